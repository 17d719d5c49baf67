"""Intent of a debtor's answer, English or Mandarin: deterministic and explainable (pure).

`classify(text, lang, now, tz)` -> `IntentResult(intent, confidence, slots, matched)`.

How it decides, in order (all data in `dunline/config/defaults/intents.<lang>.yaml`):
1. Normalise (lexicon.normalise): lower case, punctuation gone, contractions expanded ("can't" ->
   "cannot"), fillers dropped ("um", "uh"), spoken numbers as digits ("two hundred" -> "200");
   Mandarin is matched on characters after dropping spaces, punctuation and fillers.
2. For each intent, its best match: an exact phrase on token boundaries (confidence 0.95-0.99, longer
   phrases higher; in the last clause before one earlier, see 4), a regular-expression pattern (0.95),
   else a fuzzy phrase match for ASR errors ("stop callng" ~ "stop calling", "long number" ~ "wrong
   number"): rapidfuzz ratio between the phrase and every window of n-1..n+1 tokens (a token-aligned
   partial ratio), kept when >= the lexicon's threshold; confidence = 0.9 * ratio / 100, so always below
   an exact match.  Phrases listed under an intent's `exact` never match fuzzily ("all week" is not
   "a week", "i do not know" is not "not now", "is not home" is not "is not him").
   Sound-alikes: inside a phrase of two or more words a word may be heard as one of its `sounds_like`
   words, what Whisper writes for it on the telephone band ("stop coloring" = "stop calling", "seize
   all" = "cease all", "run person" = "wrong person", 绿师 = 律师); such a match counts as exact, 0.03
   lower, and `matched` shows what was heard: "en:cease:'stop calling'(heard 'stop coloring')".
3. Negation: in a `negatable` intent a match with a negator (not, never, cannot / 不 没 别) in the few
   tokens before it is dropped ("i do not have a lawyer" is not attorney, "i cannot pay" is not
   promise_to_pay); a fuzzy window may not contain a negator its phrase lacks.  A negation (or an
   "if") stays in its clause: it does not reach across a comma or a full stop the recogniser wrote
   ("now is not good, call back wednesday" is callback_later; a comma around a dropped filler is a
   hesitation, "i am not, uh, going to pay"), and neither does a fuzzy window ("i do not know. maybe"
   is not "i do not know anyone").  Negations that carry
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
   Mandarin moves two: refuse comes right after wrong_number (a refusal holds the words of paying,
   "这钱我不打算还了"), and payment_plan before hardship (a plan asked for with its reason, "拿不出来，
   能不能分期", is the plan).
6. Repair: a bare yes or no in an answer that ends by asking for the question again ("hold on...
   okay, what?", `repair` in the lexicon) is no answer: `unknown` ("en:unknown:repair").
7. Slots as a last resort: when nothing but "yes" matched and the answer holds an amount or a coming
   date, it is an offer to pay: promise_to_pay at confidence 0.75 ("fifty bucks tomorrow", "yeah, on
   the 15th"); the IVR reads every promise back for confirmation before recording it.  Not when the
   answer names a past date (what was done is no offer: "I made the payment last Friday, $300"), nor
   when the yes is a `confirms` phrase (it repeats the read-back: "that is correct, 300 on Friday" is
   affirm), nor when a fuzzy guess is an intent that carries times (a misheard "ring me Monday at 10"
   stays callback_later; only an amount outvotes it).  A fuzzy guess of another intent yields to an
   amount or a coming date.
8. Nothing matched -> `unknown`, confidence 0.1 (0.05 for an empty answer).
9. Second opinion (English, when the caller passes one: `semantic.load("en")`): a classifier trained
   on labelled answers gives an intent and a probability. It replaces the lexicon's guess (step 7's
   offer from a bare amount or date, or step 8's nothing matched) at probability >= 0.4 (an offer
   becomes no answer only at >= 0.6: "december 12th, 600. write it down" is read back), and it
   overrules a phrase that decided on little: a fuzzy one, or one word deciding an answer of four or
   more words, at >= 0.7; two words deciding five or more, at >= 0.9. The probability becomes the
   confidence (below the IVR's 0.6 the question is asked again) and
   `matched` naming the nearest example of its intent: "en:callback_later:like(0.55) 'Call me after
   six in the evening.'", plus " over 'no'" when it overruled a phrase.  It never overrules a legal
   flag (attorney, cease, dispute, wrong_number), never yields affirm or deny (a yes or no verifies
   identity and confirms read-backs: it must be said), never an intent whose phrase the answer negates
   ("i do not have a lawyer" is not attorney, however close it is to "talk to my lawyer"), never
   overrules a phrase heard exactly with unknown (a misheard one, yes: "can you say that again" is not
   "pay that"), and an offered amount or date stays a promise when the opinion says payment plan.
Slots are parsed (slots.py) for the winner's slot kinds only (promise: date+amount+time, already_paid: a
date in the past, callback: date+time, dispute: the amount said to be right ...); a promise with no date
but "right now"/"right away" is for today.  `matched` names what decided: "en:cease:'stop calling'",
"en:wrong_number:~'wrong number'='long number'(87)", "zh:promise_to_pay:/还(你|您)?[...]/".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from dunline.ivr.speech.lexicon import NUM, IntentLex, Lexicon, load, normalise, normalise_marked
from dunline.ivr.speech.slots import Prefer, local_today, parse_amount, parse_date, parse_time
from dunline.ivr.speech.types import IntentResult, Lang, Neighbour, Slots

UNKNOWN_CONFIDENCE = 0.1
PROMISE_BY_SLOTS = 0.75  # above the IVR's reprompt threshold: the read-back confirms it anyway
BY_EXAMPLE_MIN = 0.4  # the opinion's probability needed to replace a guess
UNSAY_OFFER_MIN = 0.6  # ... to turn an offer read from an amount or a date into no answer
OVERRULE_MIN = 0.7  # ... to overrule a misheard phrase or one word (_overrule_at)
OVERRULE_SHORT_MIN = 0.9  # ... to overrule two words
WEAK_MIN_TOKENS = 4
ZH_WEAK_MIN_CHARS = 6  # Mandarin: a phrase of one or two characters deciding an answer this long is weak
NEVER_BY_EXAMPLE = frozenset({"affirm", "deny"})


class Opinion(Protocol):
    """A second opinion: a classifier over labelled examples (semantic.Semantic)."""

    def nearest(self, text: str) -> Neighbour: ...


@dataclass(frozen=True)
class Match:
    confidence: float
    start: int  # token span [start, end) of the match
    end: int
    matched: str


def _before(toks: list[str], marks: list[int], start: int, lex: Lexicon) -> list[str]:
    """The few tokens before `start` in its own clause: a negation or an "if" does not reach across a
    comma or a full stop ("now is not good. call back wednesday" asks for a callback)."""
    first = max(0, start - lex.negation_window)
    for k in range(start - 1, first - 1, -1):
        if marks[k + 1]:
            return toks[k + 1 : start]
    return toks[first:start]


def _negated(toks: list[str], marks: list[int], start: int, lex: Lexicon) -> bool:
    return any(t in lex.negators for t in _before(toks, marks, start, lex))


def _hypothetical(il: IntentLex, toks: list[str], marks: list[int], start: int, lex: Lexicon) -> bool:
    return il.conditional and any(t in lex.conditionals for t in _before(toks, marks, start, lex))


def _token_eq(pt: str, tok: str, alike: frozenset[str] = frozenset()) -> bool:
    return pt == tok or (pt == NUM and tok.replace(".", "", 1).isdigit()) or tok in alike


SOUND_ALIKE_PENALTY = 0.03  # a phrase heard through a known sound-alike ranks below the same words heard


def _exact(
    il: IntentLex,
    toks: list[str],
    marks: list[int],
    lex: Lexicon,
    spans: list[tuple[int, int]],
    after: int = 0,
) -> Match | None:
    """Best exact phrase (else pattern) match; every exact phrase span found is added to `spans`.
    A match in the last clause (from token `after`) is preferred to a longer one before it.

    Inside a phrase of two or more words a word may be heard as one of its known sound-alikes
    (`sounds_like`: "stop coloring" is "stop calling"); `matched` then shows what was heard."""
    best: Match | None = None
    none: frozenset[str] = frozenset()
    for phrase in il.phrases:
        n = len(phrase)
        own_neg = phrase[0] in lex.negators
        alike = [lex.sounds_like.get(p, none) if n > 1 else none for p in phrase]
        for i in range(len(toks) - n + 1):
            window = toks[i : i + n]
            if all(_token_eq(p, t, a) for p, t, a in zip(phrase, window, alike, strict=True)):
                if il.negatable and not own_neg and _negated(toks, marks, i, lex):
                    continue
                if _hypothetical(il, toks, marks, i, lex):
                    continue
                spans.append((i, i + n))
                text = lex.join(phrase)
                conf = 0.95 + 0.04 * min(1.0, len(text) / (6 if lex.lang == "zh" else 20))
                heard = [t for p, t in zip(phrase, window, strict=True) if p != t and p != NUM]
                why = f"'{text}'" + (f"(heard '{lex.join(window)}')" if heard else "")
                conf -= SOUND_ALIKE_PENALTY if heard else 0.0
                if best is None or (i >= after, conf) > (best.start >= after, best.confidence):
                    best = Match(conf, i, i + n, f"{lex.lang}:{il.name}:{why}")
    if best is not None:
        return best
    joined = lex.join(toks)
    for pat in il.patterns:
        for m in pat.finditer(joined):
            i, j = (m.start(), m.end()) if lex.lang == "zh" else _token_span(joined, m.start(), m.end())
            if not (il.negatable and _negated(toks, marks, i, lex)) and not _hypothetical(
                il, toks, marks, i, lex
            ):
                return Match(0.95, i, j, f"{lex.lang}:{il.name}:/{pat.pattern}/")
    return None


def _token_span(joined: str, start: int, end: int) -> tuple[int, int]:
    return joined[:start].count(" "), joined[:end].count(" ") + 1


def _close_tokens(window: list[str], phrase: tuple[str, ...]) -> bool:
    """Same length: every word sounds alike ("long"~"wrong"); a different word ("a"~"it") is no match."""
    return all(fuzz.ratio(w, p) >= 50 for w, p in zip(window, phrase, strict=True))


def _fuzzy(
    il: IntentLex, toks: list[str], marks: list[int], lex: Lexicon, taken: list[tuple[int, int]]
) -> Match | None:
    """Best fuzzy phrase match whose window does not overlap an exact match of another intent, nor
    reach across a comma or a full stop ("i do not know. maybe" is not "i do not know anyone")."""
    joined = lex.join(toks)
    best: tuple[float, int, int, str, str] | None = None
    for phrase in il.phrases:
        text = lex.join(phrase)
        if NUM in phrase or len(text) < lex.fuzzy_min_chars or phrase in il.exact_only:
            continue
        if fuzz.partial_ratio(text, joined) < lex.fuzzy_threshold:
            continue
        n = len(phrase)
        for size in (n - 1, n, n + 1):
            for i in range(0, len(toks) - size + 1 if size > 0 else 0):
                window = toks[i : i + size]
                if {t for t in window if t in lex.negators} != {t for t in phrase if t in lex.negators}:
                    continue  # a negator gained or lost is a different meaning, however close
                if any(a < i + size and i < b for a, b in taken) or any(marks[i + 1 : i + size]):
                    continue
                score = fuzz.ratio(lex.join(window), text)
                need = lex.fuzzy_threshold + {n: 0, n + 1: 6}.get(size, 10)  # a dropped word costs most
                if score >= need and (best is None or score > best[0]):
                    if size == n and lex.lang == "en" and not _close_tokens(window, phrase):
                        continue
                    if n == 1 and (phrase[0].startswith(window[0]) or window[0].startswith(phrase[0])):
                        continue  # "month" is not "monthly", "pay" is not "payment": another word
                    if il.negatable and phrase[0] not in lex.negators and _negated(toks, marks, i, lex):
                        continue
                    if _hypothetical(il, toks, marks, i, lex):
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
    toks, marks = normalise_marked(text, lex)
    found: dict[str, Match] = {}
    taken: list[tuple[int, int]] = []
    cut = _clause_start(toks, lex)
    for name, il in lex.intents.items():
        if (m := _exact(il, toks, marks, lex, taken, 0 if name in lex.always_count else cut)) is not None:
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
        if (m := _fuzzy(il, toks, marks, lex, taken)) is not None:
            found[name] = m
    if cut and any(m.start >= cut for n, m in found.items() if n not in lex.always_count):
        found = {n: m for n, m in found.items() if n in lex.always_count or m.start >= cut}
    return found


_PAY_NOW = {
    "en": re.compile(r"\b(right now|right away|immediately|today)\b"),
    "zh": re.compile(r"现在|马上|立刻"),
}


def _slots(text: str, il: IntentLex, lang: Lang, now: datetime, tz: ZoneInfo) -> Slots:
    prefer: Prefer = "past" if il.name == "already_paid" else "future"
    day = parse_date(text, lang, now, tz, prefer=prefer) if "date" in il.slots else None
    if day is None and il.name == "promise_to_pay" and _PAY_NOW[lang].search(text.lower()):
        day = local_today(now, tz)  # "take it all right now": a promise for today
    return Slots(
        date=day,
        amount=parse_amount(text, lang) if "amount" in il.slots else None,
        time=parse_time(text, lang, amounts="amount" in il.slots) if "time" in il.slots else None,
    )


def _has(
    toks: list[str], phrases: tuple[tuple[str, ...], ...], lex: Lexicon, *, at_end: bool = False
) -> bool:
    joined = f" {lex.join(toks)} " if lex.lang == "en" else lex.join(toks)
    for phrase in phrases:
        p = f" {lex.join(phrase)} " if lex.lang == "en" else lex.join(phrase)
        if joined.endswith(p) if at_end else p in joined:
            return True
    return False


_ZH_QUESTION_WORDS = re.compile(r"怎么样|怎么|为什么|什么|哪个|哪里|哪儿|哪家|谁|几点|多少钱")
_ZH_QUESTION_END = re.compile(r"[吗呢么][?？。!！]*$|[?？]$")
_ZH_OFFER_ASKED = re.compile(r"(行|可以|好|成)(吗|么|不)[?？。]*$|(行不行|可不可以|好不好|能不能)[?？。]*$")


_ZH_DAY_CHARS = set("今明后昨天周星期礼拜一二三四五六七八九十日号月底初下这本个点半上午中晚早再过两")
_ZH_PARTICLES = set("吧啊呢了的就好行嗯可以呀哦那么吗到前之")


def _says_more_than_a_day(text: str) -> bool:
    """A Mandarin answer whose words, apart from the day and the particles, say something else."""
    rest = [
        c for c in text if "\u4e00" <= c <= "\u9fff" and c not in _ZH_DAY_CHARS and c not in _ZH_PARTICLES
    ]
    return len(rest) > 2


def asks_back(text: str) -> bool:
    """A Mandarin answer that asks the caller something ("今天天气怎么样", "利息是多少钱？"), not an offer
    put as a question ("周五还五百行吗")."""
    t = text.strip()
    if _ZH_OFFER_ASKED.search(t):
        return False
    return bool(_ZH_QUESTION_WORDS.search(t) or _ZH_QUESTION_END.search(t))


def _offer_by_slots(
    text: str,
    winner: str | None,
    found: dict[str, Match],
    toks: list[str],
    lex: Lexicon,
    now: datetime,
    tz: ZoneInfo,
) -> IntentResult | None:
    """An amount or a coming date with nothing stronger said is an offer to pay ("fifty bucks
    tomorrow", "yeah, 200 on the 15th").  Not when: a past date is named (what was done is no offer:
    "I made the payment last Friday, $300"); the yes confirms a read-back ("that is correct, 300 on
    Friday"); the guess is an intent whose slots explain the date (a misheard "ring me Monday at 10"
    is a callback: only an amount outvotes it)."""
    guessed = winner is not None and "~" in found[winner].matched and winner not in lex.always_count
    if not (winner in (None, "affirm") or guessed):
        return None
    if winner == "affirm" and _has(toks, lex.confirms, lex):
        return None
    if lex.lang == "zh" and asks_back(text):
        return None  # "今天天气怎么样": a question back names a day but offers nothing
    slots = _slots(text, lex.intents["promise_to_pay"], lex.lang, now, tz)
    today = local_today(now, tz)
    if slots.date is not None and slots.date < today:
        return None
    if winner is not None and guessed and "time" in lex.intents[winner].slots and slots.amount is None:
        return None
    if slots.amount is None and slots.date is None:
        return None
    if lex.lang == "zh" and slots.amount is None and _says_more_than_a_day(text):
        return None  # "今天天气真冷啊": a day named in passing; "周五吧", "月底" are answers
    what = ",".join(k for k in ("amount", "date") if getattr(slots, k) is not None)
    return IntentResult("promise_to_pay", PROMISE_BY_SLOTS, slots, f"{lex.lang}:promise_to_pay:slots({what})")


def negated(text: str, lang: Lang) -> frozenset[str]:
    """Intents whose exact phrase is in `text` but negated or hypothetical ("i do not have a lawyer",
    "what if i paid it"): the lexicon dropped them, and no example may bring them back."""
    lex = load(lang)
    toks, marks = normalise_marked(text, lex)
    out = set()
    for name, il in lex.intents.items():
        for phrase in il.phrases:
            n = len(phrase)
            for i in range(len(toks) - n + 1):
                if all(_token_eq(p, t) for p, t in zip(phrase, toks[i : i + n], strict=True)) and (
                    (il.negatable and phrase[0] not in lex.negators and _negated(toks, marks, i, lex))
                    or _hypothetical(il, toks, marks, i, lex)
                ):
                    out.add(name)
    return frozenset(out)


def _guessed(result: IntentResult) -> bool:
    """The lexicon only guessed: an offer read from a bare amount or date, or nothing matched."""
    return ":slots(" in result.matched or result.matched.endswith(":unknown:no phrase matched")


def _overrule_at(result: IntentResult, match: Match | None, text: str, lex: Lexicon) -> float | None:
    """How sure the opinion must be to overrule a phrase that decided on little, or None where it may
    not: a misheard phrase, or one word deciding an answer of four or more words ("no" in "six forty?
    no, it was like two hundred last time i checked"): 0.7; two words deciding five or more
    ("pay this" in "i have zero intention to pay this one"): 0.9. Never a legal flag: a phrase that may mean
    "stop calling" keeps its effect whatever the opinion says."""
    if match is None or result.intent in lex.always_count or ":slots(" in result.matched:
        return None
    words = len(normalise(text, lex))
    span = match.end - match.start
    if lex.lang == "zh":  # tokens are characters: a word is one to three of them
        if "~" in match.matched or (span <= 2 and words >= ZH_WEAK_MIN_CHARS):
            return OVERRULE_MIN
        if span <= 4 and words >= ZH_WEAK_MIN_CHARS + 2:
            return OVERRULE_SHORT_MIN
        return None
    if "~" in match.matched or (span == 1 and words >= WEAK_MIN_TOKENS):
        return OVERRULE_MIN
    if span == 2 and words >= WEAK_MIN_TOKENS + 1:
        return OVERRULE_SHORT_MIN
    return None


def _by_example(
    guess: IntentResult,
    text: str,
    lex: Lexicon,
    now: datetime,
    tz: ZoneInfo,
    opinion: Opinion,
    *,
    overrule: float | None = None,
) -> IntentResult:
    near = opinion.nearest(text)
    needed = BY_EXAMPLE_MIN if overrule is None else overrule
    if lex.lang == "zh" and asks_back(text):
        needed = max(needed, OVERRULE_SHORT_MIN)  # "你们这个利息怎么算的？" asks; it disputes nothing
    if near.probability < needed or near.intent == guess.intent or near.intent in NEVER_BY_EXAMPLE:
        return guess
    if overrule is not None and near.intent == "unknown" and ":~" not in guess.matched:
        return guess  # a phrase was heard: "no idea" from the examples does not erase it
    if near.intent == "unknown" and ":slots(" in guess.matched and near.probability < UNSAY_OFFER_MIN:
        return guess  # an amount and a date were said: an offer, and the read-back checks it
    if overrule is None and guess.intent == "promise_to_pay" and near.intent == "payment_plan":
        return guess  # an amount or a date offered is a promise however it is put; the read-back checks it
    if near.intent in negated(text, lex.lang):
        return guess  # "i do not have a lawyer" is close to "talk to my lawyer", and means the opposite
    matched = f"{lex.lang}:{near.intent}:like({near.probability:.2f}) {near.example!r}"
    if overrule is not None:
        matched += f" over {guess.matched.split(':', 2)[2]}"
    if near.intent == "unknown":
        return IntentResult("unknown", UNKNOWN_CONFIDENCE, matched=matched)
    slots = _slots(text, lex.intents[near.intent], lex.lang, now, tz)
    return IntentResult(near.intent, round(near.probability, 3), slots, matched)


def classify(
    text: str, lang: Lang, now: datetime, tz: ZoneInfo, opinion: Opinion | None = None
) -> IntentResult:
    """The intent of one answer, with its slots and the phrase (or example) that decided."""
    result, match = _decide(text, lang, now, tz)
    if opinion is None:
        return result
    lex = load(lang)
    if _guessed(result):
        return _by_example(result, text, lex, now, tz, opinion)
    if (needed := _overrule_at(result, match, text, lex)) is not None:
        return _by_example(result, text, lex, now, tz, opinion, overrule=needed)
    return result


def _lexical(text: str, lang: Lang, now: datetime, tz: ZoneInfo) -> IntentResult:
    """The lexicon's decision alone."""
    return _decide(text, lang, now, tz)[0]


def _decide(text: str, lang: Lang, now: datetime, tz: ZoneInfo) -> tuple[IntentResult, Match | None]:
    """The lexicon's decision and the match behind it (None: nothing matched, or an offer by slots)."""
    if lang not in ("en", "zh"):
        raise ValueError(f"unsupported language {lang!r}")
    lex = load(lang)
    if not normalise(text, lex):
        return IntentResult("unknown", UNKNOWN_CONFIDENCE / 2, matched=f"{lang}:unknown:empty"), None
    found = candidates(text, lang)
    toks = normalise(text, lex)
    winner = next((name for name in lex.priority if name in found), None)
    if winner in ("affirm", "deny") and _has(toks, lex.repair, lex, at_end=True):
        # "hold on... okay, what?": the yes or no is not an answer to the question
        return IntentResult("unknown", UNKNOWN_CONFIDENCE, matched=f"{lang}:unknown:repair"), None
    if (offer := _offer_by_slots(text, winner, found, toks, lex, now, tz)) is not None:
        return offer, None
    if winner is not None:
        m = found[winner]
        slots = _slots(text, lex.intents[winner], lang, now, tz)
        return IntentResult(winner, m.confidence, slots, m.matched), m
    return IntentResult("unknown", UNKNOWN_CONFIDENCE, matched=f"{lang}:unknown:no phrase matched"), None
