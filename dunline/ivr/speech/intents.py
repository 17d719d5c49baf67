"""Intent of a debtor's answer, English or Mandarin: deterministic and explainable (pure).

`classify(text, lang, now, tz)` -> `IntentResult(intent, confidence, slots, matched)`.

How it decides, in order (all data in `dunline/config/defaults/intents.<lang>.yaml`):
1. Normalise (lexicon.normalise): lower case, punctuation gone, contractions expanded ("can't" ->
   "cannot"), fillers dropped ("um", "uh"), spoken numbers as digits ("two hundred" -> "200");
   Mandarin is matched on characters after dropping spaces, punctuation and fillers.
2. For each intent, its best match: an exact phrase on token boundaries (confidence 0.95-0.99, longer
   phrases higher), a regular-expression pattern (0.95), else a fuzzy phrase match for ASR errors
   ("stop coloring" ~ "stop calling", "long number" ~ "wrong number"): rapidfuzz ratio between the
   phrase and every window of n-1..n+1 tokens (a token-aligned partial ratio), kept when >= the lexicon's
   threshold; confidence = 0.9 * ratio / 100, so always below an exact match.
3. Negation: in a `negatable` intent a match with a negator (not, never, cannot / 不 没 别) in the few
   tokens before it is dropped ("i do not have a lawyer" is not attorney, "i cannot pay" is not
   promise_to_pay); a fuzzy window may not contain a negator its phrase lacks.  Negations that carry
   their own meaning are phrases of other intents ("not my number" -> wrong_number, "cannot pay" ->
   hardship, "not paying" -> refuse).
   A `conditional` intent's match right after "if"/"whether" is a hypothesis and dropped ("what if i
   paid it off over six months" is not already_paid).
   Longest match: an exact match lying inside a longer exact match of another intent is dropped ("do
   not call me at work" is inconvenient_time, not the cease phrase "do not call" inside it).
   Exact before fuzzy: fuzzy matches are tried only when nothing matched exactly, except for the legal
   flags (attorney, cease, dispute, wrong_number), which a misheard phrase may still raise.
4. Contrast: when the answer has "but"/但是, intents other than attorney, cease, dispute, wrong_number
   count only after the last one, if anything matches there.
5. Priority among the intents still matched (first wins):
   attorney > cease > dispute > wrong_number > already_paid > hardship > payment_plan > promise_to_pay
   > callback_later > inconvenient_time > request_agent > refuse > deny > affirm.
   Legal flags first (they restrict what may happen next), then what was done, then what will be done.
6. Slots as a last resort: when nothing but "yes" matched and the answer holds an amount or a coming
   date, it is an offer to pay: promise_to_pay at confidence 0.75 ("fifty bucks tomorrow", "yeah, on
   the 15th"); the IVR reads every promise back for confirmation before recording it.
7. Nothing matched -> `unknown`, confidence 0.1 (0.05 for an empty answer).
Slots are parsed (slots.py) for the winner's slot kinds only (promise: date+amount, already_paid: a date
in the past, callback: date+time ...).  `matched` names what decided: "en:cease:'stop calling'",
"en:wrong_number:~'wrong number'='long number'(87)", "zh:promise_to_pay:/还(你|您)?[...]/".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from dunline.ivr.speech.lexicon import NUM, IntentLex, Lexicon, load, normalise
from dunline.ivr.speech.slots import Prefer, parse_amount, parse_date, parse_time
from dunline.ivr.speech.types import IntentResult, Lang, Slots

UNKNOWN_CONFIDENCE = 0.1
PROMISE_BY_SLOTS = 0.75  # above the IVR's reprompt threshold: the read-back confirms it anyway


@dataclass(frozen=True)
class Match:
    confidence: float
    start: int  # token span [start, end) of the match
    end: int
    matched: str


def _negated(toks: list[str], start: int, lex: Lexicon) -> bool:
    return any(t in lex.negators for t in toks[max(0, start - lex.negation_window) : start])


def _hypothetical(il: IntentLex, toks: list[str], start: int, lex: Lexicon) -> bool:
    return il.conditional and any(
        t in lex.conditionals for t in toks[max(0, start - lex.negation_window) : start]
    )


def _token_eq(pt: str, tok: str) -> bool:
    return pt == tok or (pt == NUM and tok.replace(".", "", 1).isdigit())


def _exact(il: IntentLex, toks: list[str], lex: Lexicon, spans: list[tuple[int, int]]) -> Match | None:
    """Best exact phrase (else pattern) match; every exact phrase span found is added to `spans`."""
    best: Match | None = None
    for phrase in il.phrases:
        n = len(phrase)
        own_neg = phrase[0] in lex.negators
        for i in range(len(toks) - n + 1):
            if all(_token_eq(p, t) for p, t in zip(phrase, toks[i : i + n], strict=True)):
                if il.negatable and not own_neg and _negated(toks, i, lex):
                    continue
                if _hypothetical(il, toks, i, lex):
                    continue
                spans.append((i, i + n))
                text = lex.join(phrase)
                conf = 0.95 + 0.04 * min(1.0, len(text) / (6 if lex.lang == "zh" else 20))
                if best is None or conf > best.confidence:
                    best = Match(conf, i, i + n, f"{lex.lang}:{il.name}:'{text}'")
    if best is not None:
        return best
    joined = lex.join(toks)
    for pat in il.patterns:
        for m in pat.finditer(joined):
            i, j = (m.start(), m.end()) if lex.lang == "zh" else _token_span(joined, m.start(), m.end())
            if not (il.negatable and _negated(toks, i, lex)):
                return Match(0.95, i, j, f"{lex.lang}:{il.name}:/{pat.pattern}/")
    return None


def _token_span(joined: str, start: int, end: int) -> tuple[int, int]:
    return joined[:start].count(" "), joined[:end].count(" ") + 1


def _close_tokens(window: list[str], phrase: tuple[str, ...]) -> bool:
    """Same length: every word sounds alike ("long"~"wrong"); a different word ("a"~"it") is no match."""
    return all(fuzz.ratio(w, p) >= 50 for w, p in zip(window, phrase, strict=True))


def _fuzzy(il: IntentLex, toks: list[str], lex: Lexicon, taken: list[tuple[int, int]]) -> Match | None:
    """Best fuzzy phrase match whose window does not overlap an exact match of another intent."""
    joined = lex.join(toks)
    best: tuple[float, int, int, str, str] | None = None
    for phrase in il.phrases:
        text = lex.join(phrase)
        if NUM in phrase or len(text) < lex.fuzzy_min_chars:
            continue
        if fuzz.partial_ratio(text, joined) < lex.fuzzy_threshold:
            continue
        n = len(phrase)
        for size in (n - 1, n, n + 1):
            for i in range(0, len(toks) - size + 1 if size > 0 else 0):
                window = toks[i : i + size]
                if {t for t in window if t in lex.negators} != {t for t in phrase if t in lex.negators}:
                    continue  # a negator gained or lost is a different meaning, however close
                if any(a < i + size and i < b for a, b in taken):
                    continue
                score = fuzz.ratio(lex.join(window), text)
                need = lex.fuzzy_threshold + {n: 0, n + 1: 6}.get(size, 10)  # a dropped word costs most
                if score >= need and (best is None or score > best[0]):
                    if size == n and lex.lang == "en" and not _close_tokens(window, phrase):
                        continue
                    if n == 1 and (phrase[0].startswith(window[0]) or window[0].startswith(phrase[0])):
                        continue  # "month" is not "monthly", "pay" is not "payment": another word
                    if il.negatable and phrase[0] not in lex.negators and _negated(toks, i, lex):
                        continue
                    if _hypothetical(il, toks, i, lex):
                        continue
                    best = (score, i, i + size, text, lex.join(window))
    if best is None:
        return None
    score, i, j, text, heard = best
    return Match(0.9 * score / 100, i, j, f"{lex.lang}:{il.name}:~'{text}'='{heard}'({score:.0f})")


def _clause_start(toks: list[str], lex: Lexicon) -> int:
    if lex.lang == "zh":
        joined = lex.join(toks)
        ends = [joined.rfind(b) + len(b) for b in lex.clause_breaks if b in joined]
        return max(ends, default=0)
    idx = [i + 1 for i, t in enumerate(toks) if t in lex.clause_breaks]
    return max(idx, default=0)


def candidates(text: str, lang: Lang) -> dict[str, Match]:
    """Every intent that matches `text`, with its best match (before priority)."""
    lex = load(lang)
    toks = normalise(text, lex)
    found: dict[str, Match] = {}
    taken: list[tuple[int, int]] = []
    for name, il in lex.intents.items():
        if (m := _exact(il, toks, lex, taken)) is not None:
            found[name] = m
            taken.append((m.start, m.end))
    # the longer phrase is the more specific one: a match inside another intent's longer match goes
    # ("do not call me at work" is inconvenient_time, not the cease phrase "do not call" inside it)
    found = {
        n: m
        for n, m in found.items()
        if not any(
            o is not m and o.start <= m.start and m.end <= o.end and o.end - o.start > m.end - m.start
            for o in found.values()
        )
    }
    exact = set(found)
    for name, il in lex.intents.items():
        # a guess at a misheard phrase does not outvote words heard exactly, unless it is a
        # legal flag (a misheard "stop calling" must still stop the calls)
        if name in found or (exact and name not in lex.always_count):
            continue
        if (m := _fuzzy(il, toks, lex, taken)) is not None:
            found[name] = m
    cut = _clause_start(toks, lex)
    if cut and any(m.start >= cut for n, m in found.items() if n not in lex.always_count):
        found = {n: m for n, m in found.items() if n in lex.always_count or m.start >= cut}
    return found


def _slots(text: str, il: IntentLex, lang: Lang, now: datetime, tz: ZoneInfo) -> Slots:
    prefer: Prefer = "past" if il.name == "already_paid" else "future"
    return Slots(
        date=parse_date(text, lang, now, tz, prefer=prefer) if "date" in il.slots else None,
        amount=parse_amount(text, lang) if "amount" in il.slots else None,
        time=parse_time(text, lang) if "time" in il.slots else None,
    )


def classify(text: str, lang: Lang, now: datetime, tz: ZoneInfo) -> IntentResult:
    """The intent of one answer, with its slots and the phrase that decided."""
    if lang not in ("en", "zh"):
        raise ValueError(f"unsupported language {lang!r}")
    lex = load(lang)
    if not normalise(text, lex):
        return IntentResult("unknown", UNKNOWN_CONFIDENCE / 2, matched=f"{lang}:unknown:empty")
    found = candidates(text, lang)
    winner = next((name for name in lex.priority if name in found), None)
    guessed = winner is not None and "~" in found[winner].matched and winner not in lex.always_count
    if winner in (None, "affirm") or guessed:
        # an amount or a coming date with nothing stronger said is an offer to pay
        # ("fifty bucks tomorrow", "yeah, 200 on the 15th")
        promise = lex.intents["promise_to_pay"]
        slots = _slots(text, promise, lang, now, tz)
        if slots.amount is not None or (slots.date is not None and slots.date >= now.astimezone(tz).date()):
            what = ",".join(k for k in ("amount", "date") if getattr(slots, k) is not None)
            return IntentResult(
                "promise_to_pay", PROMISE_BY_SLOTS, slots, f"{lang}:promise_to_pay:slots({what})"
            )
    if winner is not None:
        m = found[winner]
        return IntentResult(winner, m.confidence, _slots(text, lex.intents[winner], lang, now, tz), m.matched)
    return IntentResult("unknown", UNKNOWN_CONFIDENCE, matched=f"{lang}:unknown:no phrase matched")
