"""Prohibited speech: prompt and script templates are checked against phrase lists when they load.

The lists are data (`config/defaults/compliance/prohibited.yaml`): per language, per category (threat,
impersonation, fake_blacklist, shaming, new_borrowing), each category with its rule id and source.
An entry is a plain phrase or a regular expression, both matched in the *normalised* text:

- every language: Unicode NFKC, casefolded;
- English (any language written with spaces): apostrophes dropped ("you'll" -> "youll"), every other
  run of non-alphanumeric characters -> one space; entries match whole words only, so "court" does not
  match "courtesy";
- Chinese: spaces and punctuation dropped; entries match as substrings.

Pure: no I/O beyond reading the packaged list through `importlib.resources`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from dunline.config.packaged import read_default

LIST_RESOURCE = "compliance/prohibited.yaml"
LIST_NAME = "compliance/prohibited.yaml"
UNSPACED = frozenset({"zh"})  # languages written without spaces between words: substring matching
_APOSTROPHES = frozenset("'\u2018\u2019\u02bc`")
_CONTEXT = 24  # characters of the template kept either side of a match in a finding's excerpt
_CATEGORY_KEYS = frozenset({"rule", "description", "source"})
_ENTRY_KINDS = ("phrases", "patterns")


class PhraseListError(ValueError):
    """A phrase list that cannot be used (names the bad entry), or a language without a list."""


@dataclass(frozen=True)
class Finding:
    rule_id: str
    category: str
    phrase: str  # the list entry that matched, as written (a plain phrase or a pattern)
    excerpt: str  # the template around the match


class ProhibitedSpeech(ValueError):
    """Templates that match the prohibited-speech lists; `findings` maps template id -> its findings."""

    def __init__(self, source: str, findings: Mapping[str, Sequence[Finding]], kind: str = "template"):
        self.source = source
        self.findings = {tid: tuple(found) for tid, found in findings.items()}
        lines = [
            f"{kind} {tid!r}: {f.category} ({f.rule_id}): {f.phrase!r} in {f.excerpt!r}"
            for tid, found in self.findings.items()
            for f in found
        ]
        super().__init__(f"{source}: prohibited speech:\n  " + "\n  ".join(lines))


@dataclass(frozen=True)
class Category:
    name: str
    rule_id: str
    description: str
    source: str


@dataclass(frozen=True)
class Entry:
    category: Category
    phrase: str  # as written in the list
    is_pattern: bool
    regex: re.Pattern[str]


@dataclass(frozen=True)
class PhraseLists:
    categories: Mapping[str, Category]
    entries: Mapping[str, tuple[Entry, ...]]  # language -> its entries

    def for_language(self, lang: str) -> tuple[Entry, ...]:
        try:
            return self.entries[lang]
        except KeyError:
            have = ", ".join(sorted(self.entries))
            raise PhraseListError(f"no prohibited-speech list for language {lang!r} (have: {have})") from None


# ---- normalisation -------------------------------------------------------------------------------------


def _normalise_mapped(text: str, lang: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the index of the character of the NFC text
    it came from (for excerpts)."""
    unspaced = lang in UNSPACED
    out: list[str] = []
    where: list[int] = []
    gap = False
    for i, ch in enumerate(unicodedata.normalize("NFC", text)):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                if gap and out:
                    out.append(" ")
                    where.append(i)
                gap = False
                out.append(c)
                where.append(i)
            elif not unspaced and c not in _APOSTROPHES:
                gap = True
    return "".join(out), where


def normalise(text: str, lang: str) -> str:
    """The form entries are matched in: see the module docstring."""
    return _normalise_mapped(text, lang)[0]


# ---- loading and validation ----------------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PhraseListError(f"{where}: needs a non-empty string, got {value!r}")
    return value.strip()


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PhraseListError(f"{where}: must be a mapping, got {type(value).__name__}")
    return value


def _unknown_keys(spec: Mapping[str, Any], allowed: frozenset[str] | tuple[str, ...], where: str) -> None:
    extra = sorted(str(k) for k in spec if k not in allowed)
    if extra:
        raise PhraseListError(f"{where}: unknown key(s) {extra} (allowed: {sorted(allowed)})")


def _parse_categories(raw: Any, name: str) -> dict[str, Category]:
    specs = _mapping(raw, f"{name}: categories")
    if not specs:
        raise PhraseListError(f"{name}: categories: none defined")
    out: dict[str, Category] = {}
    rule_ids: set[str] = set()
    for cat, spec in specs.items():
        where = f"{name}: categories.{cat}"
        spec = _mapping(spec, where)
        _unknown_keys(spec, _CATEGORY_KEYS, where)
        rule_id = _text(spec.get("rule"), f"{where}.rule")
        if rule_id in rule_ids:
            raise PhraseListError(f"{where}.rule: rule id {rule_id!r} used twice")
        rule_ids.add(rule_id)
        description = _text(spec.get("description"), f"{where}.description")
        out[str(cat)] = Category(str(cat), rule_id, description, _text(spec.get("source"), f"{where}.source"))
    return out


def _compile(entry: Any, lang: str, is_pattern: bool, where: str) -> tuple[str, re.Pattern[str]]:
    """-> (the key duplicates are detected by, the regex searched in normalised text)."""
    if not isinstance(entry, str) or not entry.strip():
        raise PhraseListError(f"{where}: needs a non-empty string, got {entry!r}")
    unspaced = lang in UNSPACED
    if is_pattern:
        key = body = entry.strip()
        try:
            re.compile(body)
        except re.error as exc:
            raise PhraseListError(f"{where} {entry!r}: not a valid regular expression: {exc}") from None
    else:
        key = normalise(entry, lang)
        if not key:
            raise PhraseListError(f"{where} {entry!r}: nothing left after normalisation")
        body = re.escape(key)
    regex = re.compile(body if unspaced else rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
    if regex.search("") is not None or regex.search(" ") is not None:
        raise PhraseListError(f"{where} {entry!r}: matches empty text")
    return key, regex


def _parse_language(lang: str, raw: Any, categories: Mapping[str, Category], name: str) -> tuple[Entry, ...]:
    specs = _mapping(raw, f"{name}: languages.{lang}")
    _unknown_keys(specs, frozenset(categories), f"{name}: languages.{lang}")
    entries: list[Entry] = []
    for cat in categories.values():
        where = f"{name}: languages.{lang}.{cat.name}"
        if cat.name not in specs:
            raise PhraseListError(f"{where}: missing (every language lists every category)")
        spec = _mapping(specs[cat.name], where)
        _unknown_keys(spec, _ENTRY_KINDS, where)
        seen: set[tuple[bool, str]] = set()
        for kind in _ENTRY_KINDS:
            items = spec.get(kind) or []
            if not isinstance(items, list):
                raise PhraseListError(f"{where}.{kind}: must be a list, got {type(items).__name__}")
            is_pattern = kind == "patterns"
            for i, item in enumerate(items):
                item_where = f"{where}.{kind}[{i}]"
                key, regex = _compile(item, lang, is_pattern, item_where)
                if (is_pattern, key) in seen:
                    raise PhraseListError(f"{item_where} {item!r}: listed twice")
                seen.add((is_pattern, key))
                entries.append(Entry(cat, item.strip(), is_pattern, regex))
        if not seen:
            raise PhraseListError(f"{where}: no phrases or patterns")
    return tuple(entries)


def parse_phrase_lists(raw: Any, name: str = LIST_NAME) -> PhraseLists:
    """Validate a phrase list document; a bad entry raises `PhraseListError` naming it."""
    top = _mapping(raw, name)
    _unknown_keys(top, frozenset({"version", "categories", "languages"}), name)
    if top.get("version") != 1:
        raise PhraseListError(f"{name}: version: expected 1, got {top.get('version')!r}")
    categories = _parse_categories(top.get("categories"), name)
    languages = _mapping(top.get("languages"), f"{name}: languages")
    if not languages:
        raise PhraseListError(f"{name}: languages: none defined")
    entries = {str(lg): _parse_language(str(lg), spec, categories, name) for lg, spec in languages.items()}
    return PhraseLists(categories, entries)


@functools.cache
def load_phrase_lists() -> PhraseLists:
    """The packaged lists (read and validated once)."""
    text = read_default(LIST_RESOURCE)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PhraseListError(f"{LIST_NAME}: not valid YAML: {exc}") from None
    return parse_phrase_lists(raw)


# ---- checking ------------------------------------------------------------------------------------------


def _excerpt(original: str, start: int, end: int) -> str:
    lo, hi = max(0, start - _CONTEXT), min(len(original), end + _CONTEXT)
    text = " ".join(original[lo:hi].split())
    return ("…" if lo > 0 else "") + text + ("…" if hi < len(original) else "")


def find_prohibited(text: str, lang: str, lists: PhraseLists | None = None) -> list[Finding]:
    """Every prohibited phrase in `text`, in order of position. A match lying inside a longer match of
    the same category is not reported again. Unknown language: `PhraseListError`."""
    entries = (lists or load_phrase_lists()).for_language(lang)
    norm, where = _normalise_mapped(text, lang)
    hits = [(m.start(), m.end(), e) for e in entries for m in e.regex.finditer(norm) if m.end() > m.start()]
    hits.sort(key=lambda h: (h[0], h[0] - h[1]))
    kept: list[tuple[int, int, Entry]] = []
    for start, end, entry in hits:
        if any(k[2].category == entry.category and k[0] <= start and end <= k[1] for k in kept):
            continue
        kept.append((start, end, entry))
    original = unicodedata.normalize("NFC", text)
    return [
        Finding(e.category.rule_id, e.category.name, e.phrase, _excerpt(original, where[s], where[t - 1] + 1))
        for s, t, e in kept
    ]


def check_templates(
    templates: Mapping[str, str],
    lang: str,
    source: str,
    *,
    kind: str = "template",
    lists: PhraseLists | None = None,
) -> None:
    """Raise `ProhibitedSpeech` naming `source`, and for every finding the template id, the category and
    the matched entry, when any template matches the lists of `lang`."""
    found = {tid: hits for tid, text in templates.items() if (hits := find_prohibited(text, lang, lists))}
    if found:
        raise ProhibitedSpeech(source, found, kind)
