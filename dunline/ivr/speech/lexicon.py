"""Intent lexicons (packaged YAML) and text normalisation (pure besides reading package data).

`load(lang)` reads `dunline.config/defaults/intents.<lang>.yaml` once and returns a `Lexicon`;
`normalise(text, lex)` returns the tokens phrases are matched against: English words (lower case,
punctuation gone, contractions expanded, fillers dropped, spoken numbers as digits), Mandarin characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from dunline.config.packaged import read_default
from dunline.ivr.speech.numerals import STRONG_BREAK, marked_tokens, read_number
from dunline.ivr.speech.types import INTENTS, Lang

NUM = "#"  # a phrase token that matches any number


class LexiconError(ValueError):
    """A lexicon file that does not describe the intents."""


@dataclass(frozen=True)
class IntentLex:
    name: str
    phrases: tuple[tuple[str, ...], ...]
    patterns: tuple[re.Pattern[str], ...]
    negatable: bool
    slots: frozenset[str]
    conditional: bool = False  # a match after "if" is a hypothesis, not a statement ("what if i paid")
    exact_only: frozenset[tuple[str, ...]] = frozenset()  # phrases never matched fuzzily


@dataclass(frozen=True)
class Lexicon:
    lang: Lang
    priority: tuple[str, ...]
    always_count: frozenset[str]
    clause_breaks: tuple[str, ...]
    fuzzy_threshold: float
    fuzzy_min_chars: int
    negation_window: int
    negators: frozenset[str]
    replacements: tuple[tuple[re.Pattern[str], str], ...]
    contractions: dict[str, str]
    fillers: tuple[str, ...]
    intents: dict[str, IntentLex]
    conditionals: frozenset[str] = frozenset()  # words that make a `conditional` intent's match a hypothesis
    # sound-alikes: lexicon word -> words the recogniser writes for it (only inside phrases of 2+ words)
    sounds_like: dict[str, frozenset[str]] = field(default_factory=dict)
    confirms: tuple[tuple[str, ...], ...] = ()  # affirm phrases that confirm a read-back
    repair: tuple[tuple[str, ...], ...] = ()  # an answer ending in one asks for the question again
    continuations: tuple[str, ...] = ()  # words an answer does not end on ("and", "because", "然后")

    def join(self, toks: tuple[str, ...] | list[str]) -> str:
        return "".join(toks) if self.lang == "zh" else " ".join(toks)


def _phrase(p: object, lang: Lang) -> tuple[str, ...]:
    if not isinstance(p, str):  # YAML 1.1 reads a bare no/yes/on as a boolean: quote it
        raise LexiconError(f"intents.{lang}.yaml: phrase {p!r} is not a string")
    return tuple(p) if lang == "zh" else tuple(p.split())


def _word(w: object, lang: Lang, key: str) -> str:
    if not isinstance(w, str):  # YAML 1.1 reads a bare on/no/yes as a boolean: quote it
        raise LexiconError(f"intents.{lang}.yaml: {key}: {w!r} is not a string (quote it)")
    return w


@cache
def load(lang: Lang) -> Lexicon:
    raw = read_default(f"intents.{lang}.yaml")
    doc: dict[str, Any] = yaml.safe_load(raw)
    intents: dict[str, IntentLex] = {}
    for name, spec in doc["intents"].items():
        if name not in INTENTS:
            raise LexiconError(f"intents.{lang}.yaml: unknown intent {name!r}")
        exact = tuple(_phrase(p, lang) for p in spec.get("exact", []))
        intents[name] = IntentLex(
            name=name,
            phrases=tuple(_phrase(p, lang) for p in spec.get("phrases", [])) + exact,
            patterns=tuple(re.compile(p) for p in spec.get("patterns", [])),
            negatable=bool(spec.get("negatable", False)),
            slots=frozenset(spec.get("slots", [])),
            conditional=bool(spec.get("conditional", False)),
            exact_only=frozenset(exact),
        )
    priority = tuple(doc["priority"])
    if set(priority) != set(intents) or set(priority) != set(INTENTS) - {"unknown"}:
        raise LexiconError(f"intents.{lang}.yaml: priority must list every intent but unknown, once")
    return Lexicon(
        lang=lang,
        priority=priority,
        always_count=frozenset(doc.get("always_count", [])),
        clause_breaks=tuple(doc.get("clause_breaks", [])),
        fuzzy_threshold=float(doc["fuzzy"]["threshold"]),
        fuzzy_min_chars=int(doc["fuzzy"]["min_chars"]),
        negation_window=int(doc["negation_window"]),
        negators=frozenset(doc["negators"]),
        replacements=tuple(
            (re.compile(re.escape(k) if lang == "zh" else rf"(?<![a-z']){re.escape(k)}(?![a-z'])"), str(v))
            for k, v in doc["replacements"].items()
        ),
        contractions={str(k): str(v) for k, v in doc["contractions"].items()},
        fillers=tuple(doc["fillers"]),
        intents=intents,
        conditionals=frozenset(doc.get("conditionals", [])),
        sounds_like={str(k): frozenset(map(str, v)) for k, v in (doc.get("sounds_like") or {}).items()},
        confirms=tuple(_phrase(p, lang) for p in doc.get("confirms", [])),
        repair=tuple(_phrase(p, lang) for p in doc.get("repair", [])),
        continuations=tuple(_word(w, lang, "continuations") for w in doc.get("continuations", [])),
    )


_ZH_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str, lex: Lexicon) -> list[str]:
    """The tokens intents are matched on (words for English, characters for Mandarin)."""
    return normalise_marked(text, lex)[0]


def normalise_marked(text: str, lex: Lexicon) -> tuple[list[str], list[int]]:
    """`normalise(text)` and, per token, the punctuation before it (numerals.WEAK_BREAK for a comma,
    STRONG_BREAK for the end of a sentence, 0 none; always 0 in Mandarin).  A comma around a dropped
    filler is a hesitation, not a break ("i am not, uh, going to pay")."""
    text = unicodedata.normalize("NFKC", text).lower()
    for pat, repl in lex.replacements:
        text = pat.sub(repl, text)
    if lex.lang == "zh":
        for f in lex.fillers:
            text = text.replace(f, "")
        chars = list(_ZH_DROP.sub("", text))
        return chars, [0] * len(chars)
    words: list[str] = []
    marks: list[int] = []
    pending = 0
    for tok, mark in marked_tokens(text):
        if tok in lex.fillers:
            pending = STRONG_BREAK if max(pending, mark) == STRONG_BREAK else -1  # -1: a hesitation
            continue
        mark = max(pending, mark) if pending >= 0 else (STRONG_BREAK if mark == STRONG_BREAK else 0)
        pending = 0
        exp = lex.contractions.get(tok)
        if exp is None and tok.endswith("'s"):
            exp = tok[:-2]
        parts = (exp or tok.replace("'", "")).split()
        words.extend(parts)
        marks.extend([mark] + [0] * (len(parts) - 1))
    out: list[str] = []
    out_marks: list[int] = []
    carry = 0
    i = 0
    while i < len(words):
        if words[i] == "$":
            carry = max(carry, marks[i])
            i += 1
            continue
        mark, carry = max(carry, marks[i]), 0
        num = read_number(words, i) if words[i] != "a" or _spoken_a(words, i) else None
        if num is None or (words[i] == "one" and num[1] == i + 1):  # "no one here": a pronoun
            out.append(words[i])
            out_marks.append(mark)
            i += 1
            continue
        value, end = num
        out.append(str(int(value)) if value == int(value) else str(value))
        out_marks.append(mark)
        if i and words[i - 1] == "$":
            out.append("dollars")
            out_marks.append(0)
        i = end
    return out, out_marks


def _spoken_a(words: list[str], i: int) -> bool:
    """'a' starts a number only before hundred/thousand ('a thousand')."""
    return i + 1 < len(words) and words[i + 1] in ("hundred", "thousand", "grand", "million")
