"""The prompt catalog: ids -> text (per language), filled per account, rendered to audio files.

Static prompts are rendered once into the PBX's sounds directory at `asterisk up`; account prompts
(the debtor's name, balance) are rendered before the account is dialled, so no call waits for TTS.
Asterisk plays them by absolute path (`sound:/dir/name`, no extension).
"""

from __future__ import annotations

import functools
import shutil
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dunline.compliance.phrases import PhraseListError, ProhibitedSpeech, check_templates
from dunline.config.packaged import read_default

if TYPE_CHECKING:
    from dunline.config.schema import Settings
    from dunline.controller.asterisk import Instance
    from dunline.ivr.tts import Renderer

ACCOUNT_FIELDS = frozenset({"name", "amount", "days", "ref_last4"})
CALL_FIELDS = frozenset({"promise_amount", "promise_date"})
GLOBAL_FIELDS = frozenset({"company", "callback", "voicemail_name"})
# what only the debtor may hear: the debt, and the company's name, which may say it collects debts
# ("... Recovery Services"). Before right-party verification a prompt says {voicemail_name} instead.
DISCLOSING_FIELDS = frozenset({"company", "amount", "days", "ref_last4"})


class PromptError(ValueError):
    """A prompt that cannot be used: unknown id, unknown placeholder, empty text, or prohibited speech
    (then `__cause__` is the `ProhibitedSpeech` with every finding)."""


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    per_account: bool
    per_call: bool = False  # rendered during the call from what the caller said (a read-back)
    fields: frozenset[str] = frozenset()  # its placeholders


def disclosing(catalog: Mapping[str, Prompt]) -> frozenset[str]:
    """The prompts that may only be played after right-party verification (flow.check_right_party_first)."""
    return frozenset(p.id for p in catalog.values() if p.fields & DISCLOSING_FIELDS)


@functools.cache
def load_catalog(lang: str = "en") -> dict[str, Prompt]:
    text = read_default(f"prompts.{lang}.yaml")
    raw = yaml.safe_load(text) or {}
    return parse_catalog(raw, lang=lang, source=f"prompts.{lang}.yaml")


def parse_catalog(
    raw: Mapping[str, Any], *, lang: str = "en", source: str | None = None
) -> dict[str, Prompt]:
    """Validate a catalog of `lang`; every text is checked against the prohibited-speech lists."""
    source = source or f"prompt catalog {lang!r}"
    out = {}
    for pid, spec in raw.items():
        if not isinstance(spec, Mapping) or not str(spec.get("text", "")).strip():
            raise PromptError(f"prompt {pid!r}: needs a non-empty `text`")
        per_account = spec.get("scope") == "account"
        per_call = spec.get("scope") == "call"
        try:
            # `f is not None`: an empty field ("{}") is a positional placeholder, not allowed either
            fields = {f for _, f, _, _ in string.Formatter().parse(str(spec["text"])) if f is not None}
        except ValueError as exc:
            raise PromptError(f"prompt {pid!r}: malformed placeholder: {exc}") from None
        allowed = GLOBAL_FIELDS | (ACCOUNT_FIELDS if per_account or per_call else frozenset())
        allowed |= CALL_FIELDS if per_call else frozenset()
        if fields - allowed:
            raise PromptError(f"prompt {pid!r}: unknown placeholder(s) {sorted(fields - allowed)}")
        out[str(pid)] = Prompt(str(pid), str(spec["text"]), per_account, per_call, frozenset(fields))
    try:
        check_templates({p.id: p.text for p in out.values()}, lang, source, kind="prompt")
    except ProhibitedSpeech as exc:
        raise PromptError(str(exc)) from exc
    except PhraseListError as exc:
        raise PromptError(f"{source}: cannot check for prohibited speech: {exc}") from exc
    return out


def spoken_digits(e164: str) -> str:
    """'+14155550100' -> '4 1 5, 5 5 5, 0 1 0 0' (national digits, grouped, for TTS)."""
    import phonenumbers

    num = phonenumbers.parse(e164, None)
    national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = [g for g in "".join(c if c.isdigit() else " " for c in national).split() if g]
    return ", ".join(" ".join(g) for g in groups)


def spoken_amount(amount: Decimal, currency: str = "USD") -> str:
    units = {"USD": ("dollars", "cents"), "GBP": ("pounds", "pence"), "CNY": ("yuan", "fen")}
    major, minor = units.get(currency, (currency, "cents"))
    q = amount.quantize(Decimal("0.01"))
    if q < 0:
        raise PromptError(f"cannot speak a negative amount: {q}")
    whole, cents = int(q), int((q - int(q)) * 100)
    text = f"{whole} {major.rstrip('s') if whole == 1 and major.endswith('s') else major}"
    if not cents:
        return text
    return f"{text} and {cents} {'cent' if cents == 1 and minor == 'cents' else minor}"


ZH_UNITS = {"CNY": ("元", "分"), "USD": ("美元", "美分"), "GBP": ("英镑", "便士"), "HKD": ("港元", "分")}
ZH_WEEKDAYS = "一二三四五六日"
LANGS = ("en", "zh")


def spoken_amount_zh(amount: Decimal, currency: str = "CNY") -> str:
    """Decimal('2500.50') -> '二千五百元五角' (Chinese numerals: both voices read them as written)."""
    from dunline.ivr.zh_numbers import integer, money

    major, minor = ZH_UNITS.get(currency, (currency, "分"))
    q = amount.quantize(Decimal("0.01"))
    if q < 0:
        raise PromptError(f"cannot speak a negative amount: {q}")
    whole, cents = int(q), int((q - int(q)) * 100)
    if currency == "CNY":
        return money(str(whole), f"{cents:02d}" if cents else None)
    text = f"{integer(whole)}{major}"
    return f"{text}{integer(cents)}{minor}" if cents else text


def spoken_date_zh(day: date) -> str:
    """2026-12-04 -> '十二月四日，星期五'."""
    from dunline.ivr.zh_numbers import integer

    return f"{integer(day.month)}月{integer(day.day)}日，星期{ZH_WEEKDAYS[day.weekday()]}"


def speak_amount(amount: Decimal, currency: str, lang: str) -> str:
    return spoken_amount_zh(amount, currency) if lang == "zh" else spoken_amount(amount, currency)


def _lang(lang: str) -> str:
    return lang if lang in LANGS else "en"


def static_name(prompt_id: str, lang: str) -> str:
    """The file name of a static prompt in the PBX's sounds directory ('menu', 'zh_menu')."""
    return prompt_id if _lang(lang) == "en" else f"{_lang(lang)}_{prompt_id}"


def fill(prompt: Prompt, values: Mapping[str, str]) -> str:
    try:
        return prompt.text.format_map(dict(values))
    except KeyError as exc:
        raise PromptError(f"prompt {prompt.id!r}: no value for {exc}") from None


def global_values(settings: Settings, lang: str = "en") -> dict[str, str]:
    """The values every prompt of `lang` may use; Mandarin prompts name the company in Chinese (the
    voice reads Latin letters badly)."""
    ivr = settings.ivr
    zh = _lang(lang) == "zh"
    return {
        "company": ivr.company_name_zh if zh else ivr.company_name,
        "voicemail_name": ivr.voicemail_name_zh if zh else ivr.voicemail_name,
        "callback": spoken_digits(settings.ivr.callback_number),
    }


def render_static_prompts(settings: Settings, pbx: Instance, renderer: Renderer) -> None:
    from dunline.controller.asterisk import render_audio

    items = {
        static_name(p.id, lang): (lang, fill(p, global_values(settings, lang)))
        for lang in LANGS
        for p in load_catalog(lang).values()
        if not (p.per_account or p.per_call)
    }
    render_audio(pbx, renderer, items)


def _publish(pbx: Instance, src: Path) -> str:
    """Copy a rendered file where the PBX reads it; returns its media URI."""
    target = pbx.host / "sounds" / "acct" / src.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(target)
    return f"sound:{pbx.inner}/sounds/acct/{target.stem}"


def render_account_prompts(
    settings: Settings,
    pbx: Instance,
    renderer: Renderer,
    account_values: Mapping[str, str],
    lang: str = "en",
) -> dict[str, str]:
    """Render this account's prompts in the debtor's language (en, zh; others get English); returns
    {prompt id: media uri} for the catalog's static and account prompts (call prompts are rendered
    during the call by `render_call_prompt`)."""
    lang = _lang(lang)
    values = {**global_values(settings, lang), **account_values}
    media = {}
    for p in load_catalog(lang).values():
        if p.per_call:
            continue
        if not p.per_account:
            media[p.id] = f"sound:{pbx.inner}/sounds/{static_name(p.id, lang)}"
            continue
        media[p.id] = _publish(pbx, renderer.render(fill(p, values), "zh" if lang == "zh" else "en"))
    return media


def spoken_date(day: date) -> str:
    """2026-12-04 -> 'Friday, December 4th'."""
    n = day.day
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{day.strftime('%A')}, {day.strftime('%B')} {n}{suffix}"


def call_values(slots: Mapping[str, str], currency: str = "USD", lang: str = "en") -> dict[str, str]:
    """Slots of a spoken answer -> the words a read-back prompt uses."""
    amount = slots.get("amount")
    when = slots.get("date")
    if _lang(lang) == "zh":
        return {
            "promise_amount": spoken_amount_zh(Decimal(amount), currency) if amount else "您说的金额",
            "promise_date": spoken_date_zh(date.fromisoformat(when)) if when else "您说的日期",
        }
    return {
        "promise_amount": spoken_amount(Decimal(amount), currency) if amount else "the amount you said",
        "promise_date": spoken_date(date.fromisoformat(when)) if when else "the day you said",
    }


def render_call_prompt(
    settings: Settings,
    pbx: Instance,
    renderer: Renderer,
    prompt_id: str,
    values: Mapping[str, str],
    lang: str = "en",
) -> str:
    """Render one call-scoped prompt (a read-back) now, in the debtor's language; returns its media
    URI. CPU work: run it off the event loop."""
    lang = _lang(lang)
    prompt = load_catalog(lang)[prompt_id]
    text = fill(prompt, {**global_values(settings, lang), **values})
    return _publish(pbx, renderer.render(text, "zh" if lang == "zh" else "en"))
