"""Script catalogs per tier and stage (dunline/strategies/scripts.py) and their compliance checks."""

from __future__ import annotations

import copy
import dataclasses
import string
from importlib import resources
from typing import Any

import pytest
import yaml

from dunline.compliance.phrases import ProhibitedSpeech
from dunline.strategies.scripts import (
    LANGS,
    OPT_OUT,
    PLACEHOLDERS,
    SMS_MAX_CHARS,
    TEMPLATE_IDS,
    Script,
    ScriptError,
    allowed_legal,
    check_languages_match,
    check_legal_use,
    cjk_share,
    compare_catalogs,
    literal_text,
    load_scripts,
    parse_scripts,
    render,
)

LEGAL_IDS = {"legal_warning_letter", "final_call"}
VALUES = {
    "company": "Acme Recovery",
    "callback": "800 555 0100",
    "name": "Jordan Lee",
    "amount": "1,250 dollars",
    "days": "45",
    "due_date": "March 3rd",
    "interest_rate": "18",
    "late_fee": "25 dollars",
    "plan_amount": "125 dollars",
    "plan_months": "10",
    "promise_amount": "200 dollars",
    "promise_date": "Friday, April 10th",
    "legal_action": "file a claim in small claims court",
    "deadline": "May 1st",
    "ref_last4": "4821",
}


def shipped_raw(lang: str) -> dict[str, Any]:
    path = f"defaults/strategies/scripts.{lang}.yaml"
    data = yaml.safe_load(resources.files("dunline.config").joinpath(path).read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def spec(text: str, **over: Any) -> dict[str, Any]:
    return {"channel": "letter", "tone": "firm", "stage": "mid", "legal": False, "text": text, **over}


def sms(text: str) -> dict[str, Any]:
    return spec(text, channel="sms")


# ---- the shipped catalogs ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_catalog_loads_with_every_template(lang: str) -> None:
    scripts = load_scripts(lang)
    assert set(scripts) == TEMPLATE_IDS
    for tid, script in scripts.items():
        assert isinstance(script, Script)
        assert (script.id, script.lang) == (tid, lang)
        assert script.placeholders <= PLACEHOLDERS


def test_languages_match() -> None:
    check_languages_match()
    en, zh = load_scripts("en"), load_scripts("zh")
    assert set(en) == set(zh)
    for tid in en:
        assert (en[tid].channel, en[tid].legal, en[tid].placeholders) == (
            zh[tid].channel,
            zh[tid].legal,
            zh[tid].placeholders,
        )


@pytest.mark.parametrize("lang", LANGS)
def test_only_legal_steps_are_legal(lang: str) -> None:
    scripts = load_scripts(lang)
    assert {tid for tid, s in scripts.items() if s.legal} == LEGAL_IDS
    for tid in LEGAL_IDS:
        assert {"legal_action", "deadline"} <= scripts[tid].placeholders
        assert (scripts[tid].tone, scripts[tid].stage) == ("legal", "late")


@pytest.mark.parametrize("lang", LANGS)
def test_every_sms_identifies_the_company_and_offers_opt_out(lang: str) -> None:
    texts = [s for s in load_scripts(lang).values() if s.channel == "sms"]
    assert len(texts) == 5
    for script in texts:
        assert script.text.endswith(OPT_OUT[lang]), script.id
        assert "company" in script.placeholders, script.id
        rendered = render(script, VALUES)
        assert VALUES["company"] in rendered
        assert len(script.text) <= SMS_MAX_CHARS[lang]
    if lang == "zh":  # the signature convention of Chinese SMS
        assert all(s.text.startswith("【{company}】") for s in texts)


def test_reminders_are_gentle_and_negotiation_states_consequences_and_a_plan() -> None:
    en = load_scripts("en")
    assert en["reminder_sms"].tone == en["reminder_call"].tone == "gentle"
    for tid in ("negotiation_call", "consequences_sms", "plan_offer_letter"):
        text = " ".join(en[tid].text.split())
        assert "interest continues at {interest_rate}% a year" in text.lower(), tid
        assert "reported to credit bureaus" in text, tid
    for tid in ("negotiation_call", "negotiation_sms", "plan_offer_letter", "hardship_offer"):
        assert {"plan_amount", "plan_months"} <= en[tid].placeholders, tid
    zh = load_scripts("zh")
    assert "年利率{interest_rate}%" in zh["negotiation_call"].text
    assert "征信" in zh["consequences_sms"].text or "信用" in zh["consequences_sms"].text


@pytest.mark.parametrize("lang", LANGS)
def test_legal_wording_states_the_right_to_dispute(lang: str) -> None:
    dispute = {"en": "right to dispute", "zh": "有权提出异议"}[lang]
    for tid in LEGAL_IDS:
        assert dispute in " ".join(load_scripts(lang)[tid].text.split()), tid


def test_mandarin_texts_are_chinese() -> None:
    for script in load_scripts("zh").values():
        literal = literal_text(script.text)
        assert cjk_share(literal) > 0.9, script.id
        assert not any(w in literal.lower() for w in ("payment", "please", "account")), script.id
    assert cjk_share("Please pay") == 0.0


# ---- rendering -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_render_fills_every_placeholder(lang: str) -> None:
    for script in load_scripts(lang).values():
        text = render(script, VALUES)
        assert "{" not in text and "}" not in text, script.id
        for field in script.placeholders:
            assert VALUES[field] in text


def test_render_english_reminder() -> None:
    text = render(load_scripts("en")["reminder_sms"], VALUES)
    assert text.startswith("Acme Recovery: Hi Jordan Lee,")
    assert "ending 4821" in text and "due on March 3rd" in text


def test_render_names_a_missing_placeholder() -> None:
    values = {k: v for k, v in VALUES.items() if k != "due_date"}
    with pytest.raises(ScriptError, match=r"reminder_sms.*due_date"):
        render(load_scripts("en")["reminder_sms"], values)


def test_render_does_not_interpret_braces_in_values() -> None:
    text = render(load_scripts("en")["payment_thanks_sms"], {**VALUES, "name": "{amount}"})
    assert "Thank you, {amount}." in text


# ---- legal use -----------------------------------------------------------------------------------------


def test_legal_script_needs_a_configured_legal_step() -> None:
    scripts = load_scripts("en")
    assert not allowed_legal(scripts["legal_warning_letter"], legal_step_configured=False)
    assert allowed_legal(scripts["legal_warning_letter"], legal_step_configured=True)
    assert allowed_legal(scripts["reminder_sms"], legal_step_configured=False)
    with pytest.raises(ScriptError, match="final_call") as err:
        check_legal_use(["reminder_sms", "negotiation_call", "final_call"], legal_step_configured=False)
    assert "reminder_sms" not in str(err.value)
    check_legal_use(["reminder_sms", "final_call", "legal_warning_letter"], legal_step_configured=True)
    check_legal_use(["reminder_sms", "consequences_sms", "hardship_offer"], legal_step_configured=False)


def test_check_legal_use_rejects_an_unknown_template() -> None:
    with pytest.raises(ScriptError, match="court_summons"):
        check_legal_use(["court_summons"], legal_step_configured=True)


# ---- bad catalogs --------------------------------------------------------------------------------------


def test_threat_fails_naming_file_and_template() -> None:
    raw = shipped_raw("en")
    raw["negotiation_call"]["text"] += " If you do not pay, we will have you arrested."
    with pytest.raises(ScriptError, match=r"scripts\.en\.yaml(.|\n)*negotiation_call(.|\n)*threat") as err:
        parse_scripts(raw, "en", "scripts.en.yaml")
    assert isinstance(err.value.__cause__, ProhibitedSpeech)
    assert set(err.value.__cause__.findings) == {"negotiation_call"}


def test_shaming_in_mandarin_fails_naming_template() -> None:
    raw = shipped_raw("zh")
    raw["consequences_sms"]["text"] = "【{company}】{name}您好，再不还款将曝光您的欠款信息。回复TD退订"
    with pytest.raises(ScriptError, match=r"scripts\.zh\.yaml(.|\n)*consequences_sms(.|\n)*曝光"):
        parse_scripts(raw, "zh", "scripts.zh.yaml")


def test_mandarin_impersonating_the_police_fails() -> None:
    raw = {"x": spec("您好，我是公安局的工作人员，请您配合。")}
    with pytest.raises(ScriptError, match="impersonation"):
        parse_scripts(raw, "zh")


def test_unknown_placeholder_fails() -> None:
    raw = {"reminder_sms": sms("{company}: hi {name}, your employer is {employer}. Reply STOP to opt out.")}
    with pytest.raises(ScriptError, match=r"scripts\.en\.yaml: script 'reminder_sms'.*employer"):
        parse_scripts(raw, "en")


@pytest.mark.parametrize(
    "text", ["{company} {amount:>10}", "{company} {name!r}", "{company} {}", "{company {"]
)
def test_malformed_placeholders_fail(text: str) -> None:
    with pytest.raises(ScriptError, match="'x'"):
        parse_scripts({"x": spec(text)}, "en")


@pytest.mark.parametrize(
    ("lang", "text", "reason"),
    [
        ("en", "{company}: please pay {amount}.", "opt-out"),
        ("en", "Please pay {amount}. Reply STOP to opt out.", "company"),
        ("en", "{company}: " + "please pay. " * 30 + "Reply STOP to opt out.", "at most 320"),
        ("zh", "【{company}】请您尽快还款{amount}。", "opt-out"),
        ("zh", "【{company}】" + "请您尽快还款。" * 20 + "回复TD退订", "at most 140"),
    ],
)
def test_sms_rules(lang: str, text: str, reason: str) -> None:
    with pytest.raises(ScriptError, match=reason):
        parse_scripts({"x": sms(text)}, lang)


@pytest.mark.parametrize(
    ("field", "value"),
    [("channel", "email"), ("tone", "angry"), ("stage", "forever"), ("legal", "yes"), ("text", "")],
)
def test_bad_field_values_fail(field: str, value: str) -> None:
    with pytest.raises(ScriptError, match=r"'x'.*" + field):
        parse_scripts({"x": {**spec("{company}"), field: value}}, "en")


def test_unknown_and_missing_fields_fail() -> None:
    with pytest.raises(ScriptError, match=r"'x'.*unknown field.*priority"):
        parse_scripts({"x": {**spec("{company}"), "priority": 1}}, "en")
    incomplete = spec("{company}")
    del incomplete["stage"]
    with pytest.raises(ScriptError, match=r"'x'.*missing field.*stage"):
        parse_scripts({"x": incomplete}, "en")


def test_legal_wording_only_in_legal_scripts() -> None:
    with pytest.raises(ScriptError, match=r"'x'.*court"):
        parse_scripts({"x": spec("{company} may take you to court.")}, "en")
    with pytest.raises(ScriptError, match=r"'x'.*起诉"):
        parse_scripts({"x": spec("{company}可能会起诉您。")}, "zh")
    with pytest.raises(ScriptError, match=r"'x'.*legal_action"):
        parse_scripts({"x": spec("{company} will {legal_action}.")}, "en")
    # "courtesy" is not "court"
    assert parse_scripts({"x": spec("A courtesy note from {company}.")}, "en")["x"].text


def test_legal_flag_needs_legal_tone_stage_and_step() -> None:
    legal = {"tone": "legal", "stage": "late", "legal": True}
    ok = parse_scripts({"x": spec("{company} intends to {legal_action} after {deadline}.", **legal)}, "en")
    assert ok["x"].legal
    with pytest.raises(ScriptError, match="legal_action"):
        parse_scripts({"x": spec("{company} writes by {deadline}.", **legal)}, "en")
    with pytest.raises(ScriptError, match="tone 'legal'"):
        parse_scripts({"x": spec("{legal_action} {deadline}", legal=True)}, "en")
    with pytest.raises(ScriptError, match="tone 'legal'"):
        parse_scripts({"x": spec("{company}", tone="legal")}, "en")


def test_mandarin_text_in_english_fails() -> None:
    with pytest.raises(ScriptError, match=r"'x'.*Chinese"):
        parse_scripts({"x": spec("Dear {name}, please pay {amount} to {company}.")}, "zh")


def test_unknown_language_and_empty_catalog_fail() -> None:
    with pytest.raises(ScriptError, match="fr"):
        parse_scripts({"x": spec("{company}")}, "fr")
    with pytest.raises(ScriptError, match=r"scripts\.en\.yaml"):
        parse_scripts({}, "en")
    with pytest.raises(ScriptError, match="fr"):
        load_scripts("fr")


def test_catalogs_that_differ_fail() -> None:
    en, zh = load_scripts("en"), load_scripts("zh")
    fewer = {k: v for k, v in zh.items() if k != "final_call"}
    with pytest.raises(ScriptError, match=r"only in en: \['final_call'\]"):
        compare_catalogs({"en": en, "zh": fewer})
    changed = copy.copy(dict(zh))
    changed["final_call"] = dataclasses.replace(zh["final_call"], legal=False)
    with pytest.raises(ScriptError, match=r"'final_call': legal differs"):
        compare_catalogs({"en": en, "zh": changed})


def test_placeholders_property_matches_formatter() -> None:
    script = load_scripts("en")["negotiation_sms"]
    expected = {f for _, f, _, _ in string.Formatter().parse(script.text) if f}
    assert script.placeholders == expected
