"""What a debtor's text message says (pure): an opt-out first, then the same intents as a spoken answer.

An opt-out word alone (STOP, QUIT, END, REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE: the words 47 CFR
64.1200(a)(10) names, and STOPALL; 退订, TD, T, 取消, 拒收, R in Chinese texts, which end "回T退订" or
"拒收请回复R") opts the number out of texts at once, before anything else is read. Any other reply is
classified by the speech layer's intent classifier (`ivr.speech.intents.classify`, en and zh): a
request to stop contacting (`cease`) also opts out of texts; a promise, "paid", a dispute, "wrong
number", "call me" become the same outcomes as on a call; a reply the classifier is not sure of goes
to a person (`needs_person`), and so do clear ones a person must act on (set a plan up, call back).
`effects` says what a reply changes: the outcome, the holds, a wrong number, a promise to track.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from dunline.ivr.speech.intents import classify
from dunline.ivr.speech.types import IntentResult, Lang

OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "quit", "end", "revoke", "optout", "opt out", "cancel", "unsubscribe"}
    | {"退订", "td", "t", "取消", "拒收", "r", "退订短信", "取消订阅"}
)
SURE = 0.75  # below this, a person reads the reply
# what an automatic answer can follow; a bare yes or no to a text that asked nothing goes to a person
ACTIONABLE = frozenset(
    {"promise_to_pay", "already_paid", "payment_plan", "dispute", "wrong_number", "callback_later",
     "request_agent", "hardship", "attorney", "cease", "refuse", "inconvenient_time"}
)  # fmt: skip
_STRIP = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Reading:
    opt_out: bool  # the number is opted out of texts (before anything else happens)
    intent: str  # the speech layer's intent ("opt_out" for a bare opt-out word)
    confidence: float
    needs_person: bool  # nobody can act on it automatically: the console's human queue
    result: IntentResult | None  # the classifier's answer (slots: date, amount, time)


def _bare(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    words = " ".join(w for w in _STRIP.split(folded) if w)
    return words


def is_opt_out_word(text: str) -> bool:
    bare = _bare(text)
    return bare in OPT_OUT_WORDS or bare.replace(" ", "") in OPT_OUT_WORDS


def language(text: str) -> Lang:
    return "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"


_ABOUT_TEXTS = re.compile(r"\b(text|texts|texting|sms|messages?)\b|短信|信息|消息", re.IGNORECASE)
# what a reply does, as on a call: the outcome recorded and the hold set (speech's FLAG_INTENTS)
OUTCOMES = {
    "promise_to_pay": "promise_to_pay",
    "already_paid": "already_paid",
    "payment_plan": "payment_plan",
    "callback_later": "callback",
    "request_agent": "callback",
    "refuse": "refuse",
}
FLAGS = {"dispute": "dispute", "attorney": "attorney", "hardship": "hardship", "cease": "cease"}
# a person must act on these even when they are clear (set a plan up, call back, note a time)
PERSON = frozenset({"payment_plan", "callback_later", "request_agent", "inconvenient_time"})


@dataclass(frozen=True)
class Effects:
    outcome: str | None  # recorded on the account's timeline, as a call's outcome would be
    flags: tuple[str, ...]  # account holds to set ("sms_opt_out", "cease", "dispute", ...)
    wrong_number: bool  # the number is not the debtor's
    promise: dict[str, str | None] | None  # {"date", "amount"}: a promise the planner tracks


def effects(reading: Reading, text: str) -> Effects:
    """What a reply changes (pure). Unclear replies change nothing but the opt-out (a person reads
    them); "stop texting me" opts out of texts only, "stop contacting me" ceases every channel."""
    flags: list[str] = ["sms_opt_out"] if reading.opt_out else []
    if reading.intent == "cease" and not _ABOUT_TEXTS.search(text):
        flags.append("cease")
    sure = reading.intent in ACTIONABLE and reading.confidence >= SURE
    if reading.result is None or not sure:
        return Effects(None, tuple(flags), False, None)
    intent = reading.intent
    if intent in FLAGS and intent != "cease":
        flags.append(FLAGS[intent])
    promise = None
    slots = reading.result.slots
    if intent == "promise_to_pay" and slots.date is not None:
        amount = f"{slots.amount:.2f}" if slots.amount is not None else None
        promise = {"date": slots.date.isoformat(), "amount": amount}
    outcome = OUTCOMES.get(intent) or (intent if intent in FLAGS or intent == "wrong_number" else None)
    return Effects(outcome, tuple(flags), intent == "wrong_number", promise)


def read(text: str, now: datetime, tz: ZoneInfo, lang: Lang | None = None) -> Reading:
    if is_opt_out_word(text):
        return Reading(True, "opt_out", 1.0, False, None)
    result = classify(text, lang or language(text), now, tz)
    opt_out = result.intent == "cease"
    unsure = result.intent not in ACTIONABLE or result.confidence < SURE
    if result.intent == "promise_to_pay" and result.slots.date is None:
        unsure = True  # a promise with no date cannot be tracked: a person asks when
    needs_person = (unsure and not opt_out) or (result.intent in PERSON and not unsure)
    return Reading(opt_out, result.intent, result.confidence, needs_person, result)
