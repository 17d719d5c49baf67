"""The prompt catalog and its pure helpers (dunline/ivr/prompts.py; rendering is not tested here)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml

from dunline.ivr.flow import parse_flow
from dunline.ivr.prompts import (
    ACCOUNT_FIELDS,
    Prompt,
    PromptError,
    call_values,
    fill,
    load_catalog,
    parse_catalog,
    spoken_amount,
    spoken_date,
    spoken_digits,
)


def shipped_flow_raw() -> dict[str, Any]:
    text = resources.files("dunline.config").joinpath("defaults/flows/collect_dtmf.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


# ---- spoken_amount -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("1250.00"), "USD", "1250 dollars"),
        (Decimal("1250"), "USD", "1250 dollars"),
        (Decimal("812.40"), "USD", "812 dollars and 40 cents"),
        (Decimal("812.4"), "USD", "812 dollars and 40 cents"),
        (Decimal("0.05"), "USD", "0 dollars and 5 cents"),
        (Decimal("99.99"), "USD", "99 dollars and 99 cents"),
        (Decimal("812.40"), "GBP", "812 pounds and 40 pence"),
        (Decimal("300"), "GBP", "300 pounds"),
        (Decimal("1999.01"), "CNY", "1999 yuan and 1 fen"),
        (Decimal("7"), "CNY", "7 yuan"),
    ],
)
def test_spoken_amount(amount: Decimal, currency: str, expected: str) -> None:
    assert spoken_amount(amount, currency) == expected


def test_spoken_amount_defaults_to_dollars() -> None:
    assert spoken_amount(Decimal("12.30")) == "12 dollars and 30 cents"


def test_spoken_amount_rounds_to_cents() -> None:
    assert spoken_amount(Decimal("812.404")) == "812 dollars and 40 cents"
    assert spoken_amount(Decimal("19.999")) == "20 dollars"


def test_spoken_amount_unknown_currency_says_its_code() -> None:
    assert spoken_amount(Decimal("10.50"), "EUR") == "10 EUR and 50 cents"


# ---- spoken_digits -------------------------------------------------------------------------------------


def test_spoken_digits_us_number() -> None:
    assert spoken_digits("+14155550100") == "4 1 5, 5 5 5, 0 1 0 0"


def test_spoken_digits_uk_number() -> None:
    assert spoken_digits("+442079460958") == "0 2 0, 7 9 4 6, 0 9 5 8"


def test_spoken_digits_needs_e164() -> None:
    import phonenumbers

    with pytest.raises(phonenumbers.NumberParseException):
        spoken_digits("4155550100")


# ---- parse_catalog -------------------------------------------------------------------------------------


def test_parse_catalog_accepts_globals_and_account_fields() -> None:
    cat = parse_catalog(
        {
            "hi": {"text": "Hello from {company}, call {callback}."},
            "bal": {"scope": "account", "text": "{name}, you owe {amount} for {days} days, ref {ref_last4}."},
        }
    )
    assert cat["hi"] == Prompt(
        "hi", "Hello from {company}, call {callback}.", False, fields=frozenset({"company", "callback"})
    )
    assert cat["bal"].per_account


def test_parse_catalog_rejects_unknown_placeholder() -> None:
    with pytest.raises(PromptError, match=r"prompt 'p'.*unknown placeholder.*'ssn'"):
        parse_catalog({"p": {"scope": "account", "text": "Your {ssn} please"}})


@pytest.mark.parametrize("field", sorted(ACCOUNT_FIELDS))
def test_parse_catalog_rejects_account_placeholder_in_global_prompt(field: str) -> None:
    with pytest.raises(PromptError, match=r"prompt 'p'.*unknown placeholder"):
        parse_catalog({"p": {"text": f"Hello {{{field}}}"}})


@pytest.mark.parametrize(
    "text",
    ["Hello {}", "Hello {0}", "Hello {name.__class__}", "Hello {name[0]}", "Hello {company"],
)
def test_parse_catalog_rejects_positional_attribute_and_malformed_placeholders(text: str) -> None:
    with pytest.raises(PromptError, match="prompt 'p'"):
        parse_catalog({"p": {"scope": "account", "text": text}})


@pytest.mark.parametrize(
    "spec", [{"text": ""}, {"text": "   "}, {}, {"scope": "account"}, "just a string", None]
)
def test_parse_catalog_rejects_empty_text(spec: Any) -> None:
    with pytest.raises(PromptError, match=r"prompt 'p'.*non-empty `text`"):
        parse_catalog({"p": spec})


def test_parse_catalog_allows_escaped_braces() -> None:
    cat = parse_catalog({"p": {"text": "Press {{1}} now"}})
    assert fill(cat["p"], {}) == "Press {1} now"


# ---- fill ----------------------------------------------------------------------------------------------


def test_fill() -> None:
    p = Prompt("bal", "Hi {name}, {amount} due", True)
    assert fill(p, {"name": "Ann", "amount": "5 dollars", "extra": "ignored"}) == "Hi Ann, 5 dollars due"


def test_fill_missing_value_is_a_prompt_error() -> None:
    with pytest.raises(PromptError, match=r"prompt 'bal': no value for 'amount'"):
        fill(Prompt("bal", "Hi {name}, {amount} due", True), {"name": "Ann"})


# ---- the shipped catalog --------------------------------------------------------------------------------


def test_shipped_catalog_loads() -> None:
    cat = load_catalog("en")
    assert {"recording_notice", "rpc_question", "mini_miranda", "balance", "menu"} <= set(cat)
    assert cat["balance"].per_account and cat["rpc_question"].per_account
    assert not cat["mini_miranda"].per_account and not cat["recording_notice"].per_account


def test_every_prompt_of_the_shipped_flow_exists() -> None:
    cat = load_catalog("en")
    used: set[str] = set()
    for node in shipped_flow_raw()["nodes"].values():
        used.update(node.get("play") or node.get("ask") or [])
        used.update(node.get("reprompt") or [])
    assert used, "the flow uses prompts"
    assert used <= set(cat), used - set(cat)
    parse_flow(shipped_flow_raw(), cat.keys())


def test_prompts_before_verification_do_not_name_the_debt() -> None:
    """What an unverified listener can hear says nothing about a debt or its amount."""
    cat = load_catalog("en")
    flow = parse_flow(shipped_flow_raw(), cat.keys())
    before = {"notice", "rpc", "bye_wrong_party", "bye_no_input"}
    for node_id in before:
        node = flow.node(node_id)
        assert not node.discloses_debt
        for pid in (*node.prompts, *node.reprompt):
            text = cat[pid].text.lower()
            assert "debt" not in text and "{amount}" not in text and "balance" not in text, pid


def test_every_shipped_prompt_fills_with_sample_values() -> None:
    values = {
        "company": "Acme",
        "voicemail_name": "Acme Services",
        "callback": spoken_digits("+14155550100"),
        "name": "Ann Lee",
        "amount": spoken_amount(Decimal("812.40")),
        "days": "45",
        "ref_last4": "1234",
        **call_values({"amount": "200.00", "date": "2026-12-04"}),
    }
    for prompt in load_catalog("en").values():
        text = fill(prompt, values)
        assert "{" not in text and text.strip()
    assert "812 dollars and 40 cents" in fill(load_catalog("en")["balance"], values)


def test_spoken_amount_singular_and_negative() -> None:
    assert spoken_amount(Decimal("1.01")) == "1 dollar and 1 cent"
    assert spoken_amount(Decimal("1.00"), "GBP") == "1 pound"
    with pytest.raises(PromptError):
        spoken_amount(Decimal("-812.40"))


def test_call_values_speak_the_promise() -> None:
    assert call_values({"amount": "200.00", "date": "2026-12-04"}) == {
        "promise_amount": "200 dollars",
        "promise_date": "Friday, December 4th",
    }
    assert spoken_date(date(2026, 12, 1)) == "Tuesday, December 1st"
    assert spoken_date(date(2026, 12, 12)) == "Saturday, December 12th"
    assert call_values({})["promise_amount"] == "the amount you said"


def test_call_prompts_are_not_rendered_statically() -> None:
    catalog = load_catalog("en")
    assert catalog["promise_readback"].per_call and not catalog["promise_readback"].per_account


def test_the_mandarin_catalog_mirrors_the_english_one() -> None:
    import string

    from dunline.ivr.prompts import load_catalog

    en, zh = load_catalog("en"), load_catalog("zh")
    assert set(en) == set(zh)
    for pid, p in en.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(p.text) if f}
        zh_fields = {f for _, f, _, _ in string.Formatter().parse(zh[pid].text) if f}
        assert (fields, p.per_account, p.per_call) == (zh_fields, zh[pid].per_account, zh[pid].per_call), pid
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh[pid].text), pid  # really Mandarin


def test_mandarin_amounts_dates_and_read_back() -> None:
    from dunline.ivr.prompts import call_values, speak_amount, spoken_amount_zh, spoken_date_zh, static_name

    assert spoken_amount_zh(Decimal("2500")) == "二千五百元"
    assert spoken_amount_zh(Decimal("2500.5"), "CNY") == "二千五百元五角"
    assert spoken_amount_zh(Decimal("12.05"), "CNY") == "十二元零五分"
    assert spoken_amount_zh(Decimal("0.3"), "CNY") == "三角"
    assert spoken_amount_zh(Decimal("99.99"), "USD") == "九十九美元九十九美分"
    assert speak_amount(Decimal("10"), "USD", "en") == "10 dollars"
    assert spoken_date_zh(date(2026, 12, 4)) == "十二月四日，星期五"
    values = call_values({"amount": "200.00", "date": "2026-12-04"}, "CNY", "zh")
    assert values == {"promise_amount": "二百元", "promise_date": "十二月四日，星期五"}
    assert call_values({}, "CNY", "zh")["promise_amount"] == "您说的金额"
    assert (static_name("menu", "en"), static_name("menu", "zh"), static_name("menu", "fr")) == (
        "menu",
        "zh_menu",
        "menu",
    )


def test_the_limited_content_voicemail_says_nothing_about_a_debt() -> None:
    """Reg F 1006.2(j): the debtor's name, a neutral business name, a callback number, an opt-out."""
    for lang in ("en", "zh"):
        prompt = load_catalog(lang)["limited_content"]
        assert prompt.per_account
        text = fill(prompt, {"name": "Dana", "voicemail_name": "Acme Services", "callback": "1 2 3"})
        assert "Dana" in text and "Acme Services" in text and "1 2 3" in text
        for word in ("debt", "collect", "balance", "owe", "overdue", "欠", "债", "催收", "余额"):
            assert word not in text.lower()
