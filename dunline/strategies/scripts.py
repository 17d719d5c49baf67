"""Scripts: the words of every tier and stage of a treatment plan, per language.

The catalogs are data (`config/defaults/strategies/scripts.<lang>.yaml`): template id -> `channel`
(sms, ivr_call, agent_call, letter), `tone`, `stage`, `legal` and `text` with `{placeholder}` fields.
Every catalog is validated when it loads:

- known fields, channels, tones and stages; placeholders only from `PLACEHOLDERS`;
- SMS: names the company (`{company}`), ends with the opt-out of its language, short enough;
- pre-recorded calls: name the company and the callback number;
- a `legal: true` script announces a concrete legal step (`{legal_action}`, `{deadline}`), has the
  `legal` tone and the `late` stage; no other script uses legal-step wording (`LEGAL_STEP_WORDS`);
- Mandarin texts are written in Chinese;
- every text passes the prohibited-speech lists (`dunline.compliance.phrases.check_templates`);
- every language has the same ids, with the same channel, tone, stage, legal flag and placeholders.

Errors: one class, `ScriptError(ValueError)`: a catalog that cannot be used (names the file, the template
id and the reason; for prohibited speech `__cause__` is the `ProhibitedSpeech` with every finding), a
missing value when rendering, or a legal script planned where no legal step is configured.

Pure: no I/O beyond reading the packaged catalogs through `importlib.resources`.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from dunline.compliance.phrases import PhraseListError, ProhibitedSpeech, check_templates, normalise
from dunline.config.packaged import read_default

LANGS = ("en", "zh")
TEMPLATE_IDS = frozenset(
    {
        "reminder_sms",
        "reminder_call",
        "promise_reminder_sms",
        "negotiation_call",
        "negotiation_sms",
        "consequences_sms",
        "plan_offer_letter",
        "hardship_offer",
        "legal_warning_letter",
        "final_call",
        "payment_thanks_sms",
    }
)
CHANNELS = frozenset({"sms", "ivr_call", "agent_call", "letter"})
TONES = frozenset({"gentle", "friendly", "firm", "legal", "supportive"})
STAGES = frozenset({"early", "mid", "late", "hardship", "any"})
PLACEHOLDERS = frozenset(
    {
        "company",
        "callback",
        "name",
        "amount",
        "days",
        "due_date",
        "interest_rate",
        "late_fee",
        "plan_amount",
        "plan_months",
        "promise_amount",
        "promise_date",
        "legal_action",
        "deadline",
        "ref_last4",
    }
)
FIELDS = ("channel", "tone", "stage", "legal", "text")
OPT_OUT = {"en": "Reply STOP to opt out.", "zh": "回复TD退订"}
SMS_MAX_CHARS = {"en": 320, "zh": 140}  # the template as written, placeholders included
LEGAL_PLACEHOLDERS = frozenset({"legal_action", "deadline"})  # every legal script names both
# Wording of a legal step: only `legal: true` scripts may use it (English: whole words, normalised).
LEGAL_STEP_WORDS = {
    "en": (
        "court",
        "courts",
        "lawsuit",
        "lawsuits",
        "sue",
        "suing",
        "legal action",
        "legal proceedings",
        "judgment",
        "judgement",
        "garnish",
        "garnishment",
    ),
    "zh": ("法院", "诉讼", "起诉", "仲裁", "法律程序", "强制执行"),
}
MIN_CJK_SHARE = 0.5  # of the letters of a Mandarin text outside placeholders and [agent notes]
_ID = re.compile(r"[a-z][a-z0-9_]*")
_AGENT_NOTE = re.compile(r"\[[^\]]*\]")


class ScriptError(ValueError):
    """A script catalog that cannot be used, a missing value, or a legal script used without a legal
    step configured."""


@dataclass(frozen=True)
class Script:
    id: str
    lang: str
    channel: str
    tone: str
    stage: str
    legal: bool
    text: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None)


# ---- validation ----------------------------------------------------------------------------------------


def _placeholders(text: str, where: str) -> frozenset[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ScriptError(f"{where}: malformed placeholder: {exc}") from None
    fields = set()
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if spec or conversion:
            raise ScriptError(f"{where}: placeholder {{{field}}} may not have a format spec or conversion")
        fields.add(field)
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise ScriptError(
            f"{where}: unknown placeholder(s) {sorted(unknown)} (allowed: {sorted(PLACEHOLDERS)})"
        )
    return frozenset(fields)


def literal_text(text: str) -> str:
    """The text without its placeholders and bracketed [agent notes] (what the wording checks read)."""
    words = " ".join(lit for lit, _, _, _ in string.Formatter().parse(text))
    return _AGENT_NOTE.sub(" ", words)


def cjk_share(text: str) -> float:
    """The share of CJK ideographs among the letters of `text` (0.0 when it has none)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf") / len(letters)


def _legal_words(text: str, lang: str) -> list[str]:
    norm = normalise(literal_text(text), lang)
    if lang in ("zh",):
        return [w for w in LEGAL_STEP_WORDS[lang] if w in norm]
    return [w for w in LEGAL_STEP_WORDS[lang] if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", norm)]


def _choice(spec: Mapping[str, Any], key: str, allowed: frozenset[str], where: str) -> str:
    value = spec.get(key)
    if value not in allowed:
        raise ScriptError(f"{where}: {key} {value!r} is not one of {sorted(allowed)}")
    return str(value)


def _parse_one(tid: str, spec: Any, lang: str, where: str) -> Script:
    if not isinstance(spec, Mapping):
        raise ScriptError(f"{where}: must be a mapping of {list(FIELDS)}, got {type(spec).__name__}")
    extra = sorted(str(k) for k in spec if k not in FIELDS)
    if extra:
        raise ScriptError(f"{where}: unknown field(s) {extra} (allowed: {list(FIELDS)})")
    missing = [k for k in FIELDS if k not in spec]
    if missing:
        raise ScriptError(f"{where}: missing field(s) {missing}")
    channel = _choice(spec, "channel", CHANNELS, where)
    tone = _choice(spec, "tone", TONES, where)
    stage = _choice(spec, "stage", STAGES, where)
    legal = spec["legal"]
    if not isinstance(legal, bool):
        raise ScriptError(f"{where}: legal must be true or false, got {legal!r}")
    text = spec["text"]
    if not isinstance(text, str) or not text.strip():
        raise ScriptError(f"{where}: text must be a non-empty string")
    text = text.strip()
    fields = _placeholders(text, where)

    if legal:
        if tone != "legal" or stage != "late":
            raise ScriptError(f"{where}: a legal script has tone 'legal' and stage 'late'")
        if LEGAL_PLACEHOLDERS - fields:
            raise ScriptError(f"{where}: a legal script names {sorted(LEGAL_PLACEHOLDERS - fields)}")
    else:
        if tone == "legal":
            raise ScriptError(f"{where}: tone 'legal' is only for legal: true scripts")
        if "legal_action" in fields:
            raise ScriptError(f"{where}: {{legal_action}} is only for legal: true scripts")
        if words := _legal_words(text, lang):
            raise ScriptError(f"{where}: legal-step wording {words} is only for legal: true scripts")
    if channel == "sms":
        if not text.endswith(OPT_OUT[lang]):
            raise ScriptError(f"{where}: an SMS ends with the opt-out {OPT_OUT[lang]!r}")
        if "company" not in fields:
            raise ScriptError(f"{where}: an SMS names the company ({{company}})")
        if len(text) > SMS_MAX_CHARS[lang]:
            raise ScriptError(
                f"{where}: an SMS has at most {SMS_MAX_CHARS[lang]} characters, not {len(text)}"
            )
    if channel == "ivr_call" and {"company", "callback"} - fields:
        raise ScriptError(f"{where}: a pre-recorded call names {{company}} and {{callback}}")
    if lang == "zh" and cjk_share(literal_text(text)) < MIN_CJK_SHARE:
        raise ScriptError(f"{where}: a Mandarin script is written in Chinese characters")
    return Script(tid, lang, channel, tone, stage, legal, text)


def parse_scripts(raw: Any, lang: str, source: str | None = None) -> dict[str, Script]:
    """Validate a catalog of `lang` (see the module docstring); every text is checked against the
    prohibited-speech lists. A bad catalog raises `ScriptError` naming `source` and the template id."""
    source = source or f"scripts.{lang}.yaml"
    if lang not in LANGS:
        raise ScriptError(f"{source}: no scripts for language {lang!r} (have: {', '.join(LANGS)})")
    if not isinstance(raw, Mapping) or not raw:
        raise ScriptError(f"{source}: must be a non-empty mapping of template id -> script")
    out: dict[str, Script] = {}
    for tid, spec in raw.items():
        if not isinstance(tid, str) or not _ID.fullmatch(tid):
            raise ScriptError(f"{source}: template id {tid!r} must be lowercase letters, digits and _")
        out[tid] = _parse_one(tid, spec, lang, f"{source}: script {tid!r}")
    try:
        check_templates({s.id: s.text for s in out.values()}, lang, source, kind="script")
    except ProhibitedSpeech as exc:
        raise ScriptError(str(exc)) from exc
    except PhraseListError as exc:
        raise ScriptError(f"{source}: cannot check for prohibited speech: {exc}") from exc
    return out


# ---- the packaged catalogs -----------------------------------------------------------------------------


@functools.cache
def _catalog(lang: str) -> dict[str, Script]:
    source = f"scripts.{lang}.yaml"
    if lang not in LANGS:
        raise ScriptError(f"{source}: no scripts for language {lang!r} (have: {', '.join(LANGS)})")
    text = read_default(f"strategies/{source}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScriptError(f"{source}: not valid YAML: {exc}") from None
    return parse_scripts(raw, lang, source)


def compare_catalogs(catalogs: Mapping[str, Mapping[str, Script]]) -> None:
    """Every language has the same ids, and each id the same channel, tone, stage, legal flag and
    placeholders; otherwise `ScriptError` naming the languages and the template ids."""
    if not catalogs:
        return
    first, *others = catalogs
    base = catalogs[first]
    for lang in others:
        other = catalogs[lang]
        only_base, only_other = sorted(set(base) - set(other)), sorted(set(other) - set(base))
        if only_base or only_other:
            raise ScriptError(
                f"scripts.{first}.yaml and scripts.{lang}.yaml differ: only in {first}: {only_base}, "
                f"only in {lang}: {only_other}"
            )
        for tid, a in base.items():
            b = other[tid]
            for attr in ("channel", "tone", "stage", "legal", "placeholders"):
                if getattr(a, attr) != getattr(b, attr):
                    raise ScriptError(
                        f"script {tid!r}: {attr} differs between scripts.{first}.yaml "
                        f"({getattr(a, attr)!r}) and scripts.{lang}.yaml ({getattr(b, attr)!r})"
                    )


def check_languages_match() -> None:
    """The packaged catalogs of every language agree (see `compare_catalogs`)."""
    compare_catalogs({lang: _catalog(lang) for lang in LANGS})


@functools.cache
def load_scripts(lang: str) -> dict[str, Script]:
    """The packaged catalog of `lang`, validated once (with the other languages' catalogs)."""
    scripts = _catalog(lang)
    check_languages_match()
    return scripts


# ---- use -----------------------------------------------------------------------------------------------


def render(script: Script, values: Mapping[str, str]) -> str:
    """The script's text with its placeholders filled; values it does not use are ignored."""
    missing = sorted(script.placeholders - set(values))
    if missing:
        raise ScriptError(f"{script.lang} script {script.id!r}: no value for placeholder(s) {missing}")
    return script.text.format_map({k: values[k] for k in script.placeholders})


def allowed_legal(script: Script, legal_step_configured: bool) -> bool:
    """A `legal: true` script may be used only when a legal step is really configured."""
    return not script.legal or legal_step_configured


def check_legal_use(
    template_ids: Iterable[str],
    legal_step_configured: bool,
    scripts: Mapping[str, Script] | None = None,
) -> None:
    """Raise `ScriptError` naming every planned template that is unknown, or that announces a legal step
    when none is configured. `scripts` defaults to the English catalog (the legal flags of all languages
    are the same, see `compare_catalogs`)."""
    catalog = load_scripts("en") if scripts is None else scripts
    ids = list(template_ids)
    unknown = sorted({t for t in ids if t not in catalog})
    if unknown:
        raise ScriptError(f"unknown script(s) {unknown}")
    refused = sorted({t for t in ids if not allowed_legal(catalog[t], legal_step_configured)})
    if refused:
        raise ScriptError(
            f"script(s) {refused} announce a legal step, but no legal step is configured for this plan"
        )
