"""Spoken numbers -> values, English words and Chinese numerals (pure).

`tokens(text)` is the one English tokeniser the slot parsers share: lower case, hyphens split,
"a.m."/"p.m." folded, money ("$200", "1,250.50"), clock ("15:30") and ordinal ("15th") digit tokens kept
whole; `marked_tokens(text)` adds the punctuation before each token (a clause or sentence break).
`read_number(tokens, i)` reads one cardinal starting at token i ("two hundred and fifty",
"a thousand", "1,250.50", "2 thousand", "five k") and says where it ended.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import cn2an

UNITS: dict[str, int] = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
UNITS["oh"] = 0
TENS: dict[str, int] = {
    w: 10 * (i + 2)
    for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])
}
SCALES: dict[str, int] = {"thousand": 1000, "grand": 1000, "k": 1000, "million": 1_000_000}
ORDINALS: dict[str, int] = {
    w: i + 1
    for i, w in enumerate(
        [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
            "eleventh",
            "twelfth",
            "thirteenth",
            "fourteenth",
            "fifteenth",
            "sixteenth",
            "seventeenth",
            "eighteenth",
            "nineteenth",
            "twentieth",
        ]
    )
}
ORDINALS["thirtieth"] = 30

_TOKEN = re.compile(r"\$|\d[\d,]*(?:\.\d+)?(?::\d\d)?(?:st|nd|rd|th|k|am|pm)?|[a-z]+(?:'[a-z]+)?")
_DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
_ORD_DIGIT = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")


WEAK_BREAK, STRONG_BREAK = 1, 2  # a comma or colon before a token; a full stop, ?, !, ; or dash


def tokens(text: str) -> list[str]:
    return [tok for tok, _ in marked_tokens(text)]


def marked_tokens(text: str) -> list[tuple[str, int]]:
    """`tokens(text)`, each with the punctuation written before it (after the token before it):
    0 none, WEAK_BREAK a comma or colon, STRONG_BREAK the end of a sentence ("." "?" "!" ";" "...",
    a dash between words).  Negation and misheard phrases do not reach across them (intents.py)."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"\s[-–—]+\s", " ; ", t).replace("-", " ")
    t = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", t)
    t = re.sub(r"(\d)\s*k\b", r"\1k", t)
    out: list[tuple[str, int]] = []
    end = 0
    for m in _TOKEN.finditer(t):
        gap = t[end : m.start()]
        mark = 0
        if any(c in gap for c in ".?!;"):
            mark = STRONG_BREAK
        elif any(c in gap for c in ",:"):
            mark = WEAK_BREAK
        out.append((m.group(), mark if out else 0))
        end = m.end()
    return out


def is_number_word(tok: str) -> bool:
    return tok in UNITS or tok in TENS or tok == "hundred" or tok in SCALES


def ordinal_value(toks: list[str], i: int) -> tuple[int, int] | None:
    """An ordinal day at toks[i]: '15th', 'fifteenth', 'twenty first' -> (value, end)."""
    m = _ORD_DIGIT.fullmatch(toks[i])
    if m:
        return int(m.group(1)), i + 1
    if toks[i] in ORDINALS:
        return ORDINALS[toks[i]], i + 1
    if toks[i] in ("twenty", "thirty") and i + 1 < len(toks) and toks[i + 1] in ORDINALS:
        value = TENS[toks[i]] + ORDINALS[toks[i + 1]]
        return (value, i + 2) if value <= 31 else None
    return None


def _digit_value(tok: str) -> Decimal | None:
    m = _DIGITS.fullmatch(tok[:-1] if tok.endswith("k") else tok)
    if not m:
        return None
    try:
        value = Decimal(m.group(0).replace(",", ""))
    except InvalidOperation:
        return None
    return value * 1000 if tok.endswith("k") else value


def read_number(toks: list[str], i: int) -> tuple[Decimal, int] | None:
    """One cardinal number starting at toks[i], or None."""
    n = len(toks)
    if i < n and (d := _digit_value(toks[i])) is not None:
        j = i + 1
        if j < n and toks[j] in SCALES:
            return d * SCALES[toks[j]], j + 1
        return d, j
    total, current, j, seen = 0, 0, i, False
    last = ""
    while j < n:
        tok = toks[j]
        if (
            tok == "a"
            and j + 1 < n
            and toks[j + 1] in ("hundred", "thousand", "grand", "million")
            and not seen
        ):
            current, seen, last, j = 1, True, "unit", j + 1
            continue
        if tok in UNITS:
            if last in ("unit", "teen") or (last == "ten" and UNITS[tok] >= 10):
                break
            current += UNITS[tok]
            last = "teen" if UNITS[tok] >= 10 else "unit"
        elif tok in TENS:
            if last in ("unit", "ten", "teen"):
                break
            current += TENS[tok]
            last = "ten"
        elif tok == "hundred" and seen and last != "hundred":
            current = (current or 1) * 100
            last = "hundred"
        elif tok in SCALES and seen and last != "scale":
            total += (current or 1) * SCALES[tok]
            current, last = 0, "scale"
        elif tok == "and" and last in ("hundred", "scale") and j + 1 < n and toks[j + 1] in UNITS | TENS:
            last = "and"
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    return Decimal(total + current), j


_ZH_NUM = "零〇一二两三四五六七八九十百千万亿"
ZH_NUMBER = rf"[\d{_ZH_NUM}][\d{_ZH_NUM}点.,]*"


def zh_number(s: str) -> Decimal | None:
    """A Chinese (or digit) numeral, colloquial forms included: 两千五 -> 2500, 三万五 -> 35000."""
    s = s.replace(",", "").rstrip("点.")
    if not s:
        return None
    try:
        value = Decimal(str(cn2an.cn2an(s, "smart")))
    except (ValueError, KeyError, IndexError, InvalidOperation):
        return None
    return Decimal(int(value)) if value == int(value) else value
