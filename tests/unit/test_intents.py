"""Intents: corpus accuracy (whole and held out), priority, negation, explanations, the CLI."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dunline.controller.cli_speech import add_intent_command
from dunline.ivr.speech.intents import classify
from dunline.ivr.speech.lexicon import load
from dunline.ivr.speech.types import INTENTS, Lang

FIXTURES = Path(__file__).parent.parent / "fixtures" / "speech"
NOW = datetime(2026, 12, 1, 10, 0)
NY = ZoneInfo("America/New_York")
THRESHOLD = {"en": 0.95, "zh": 0.90}
SLOT_THRESHOLD = 0.90
HELD_OUT_THRESHOLD = {"en": 0.90, "zh": 0.85}


@dataclass(frozen=True)
class Row:
    index: int
    text: str
    intent: str
    slots: dict[str, str | None]

    @property
    def held_out(self) -> bool:  # every 5th line was written first and never tuned on
        return self.index % 5 == 4


def load_corpus(lang: Lang, name: str | None = None) -> tuple[datetime, ZoneInfo, list[Row]]:
    now: datetime | None = None
    tz: ZoneInfo | None = None
    rows: list[Row] = []
    for line in (FIXTURES / (name or f"corpus_{lang}.tsv")).read_text("utf-8").splitlines():
        if line.startswith("#"):
            if "now=" in line:
                kv = dict(p.split("=", 1) for p in line[1:].split())
                now, tz = datetime.fromisoformat(kv["now"]), ZoneInfo(kv["tz"])
            continue
        if not line.strip():
            continue
        text, intent, d, a, t = line.split("\t")
        amount = f"{Decimal(a):.2f}" if a else None
        rows.append(Row(len(rows), text, intent, {"date": d or None, "amount": amount, "time": t or None}))
    assert now is not None and tz is not None
    return now, tz, rows


def evaluate(lang: Lang, rows: list[Row], now: datetime, tz: ZoneInfo) -> tuple[float, float, list[str]]:
    ok = slot_ok = slot_n = 0
    errors: list[str] = []
    confusion: Counter[tuple[str, str]] = Counter()
    for row in rows:
        result = classify(row.text, lang, now, tz)
        if result.intent == row.intent:
            ok += 1
        else:
            confusion[(row.intent, result.intent)] += 1
            errors.append(f"{row.text!r}: {row.intent} -> {result.intent} ({result.matched})")
        if any(row.slots.values()):
            slot_n += 1
            got = result.as_json()["slots"]
            if got == row.slots:
                slot_ok += 1
            else:
                errors.append(f"{row.text!r}: slots {row.slots} -> {got}")
    errors += [f"confusion {e} -> {g}: {n}" for (e, g), n in confusion.most_common()]
    return ok / len(rows), slot_ok / max(1, slot_n), errors


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_corpus_accuracy(lang: Lang) -> None:
    now, tz, rows = load_corpus(lang)
    assert len(rows) >= {"en": 170, "zh": 110}[lang]
    per_intent = Counter(r.intent for r in rows)
    assert set(per_intent) == set(INTENTS)
    assert min(per_intent.values()) >= {"en": 8, "zh": 5}[lang]
    acc, slot_acc, errors = evaluate(lang, rows, now, tz)
    held = [r for r in rows if r.held_out]
    held_acc, held_slot_acc, held_errors = evaluate(lang, held, now, tz)
    print(f"\n{lang}: {len(rows)} lines, intent {acc:.3f}, slots {slot_acc:.3f}")
    print(f"{lang} held out: {len(held)} lines, intent {held_acc:.3f}, slots {held_slot_acc:.3f}")
    print("\n".join(errors))
    assert acc >= THRESHOLD[lang], "\n".join(errors)
    assert slot_acc >= SLOT_THRESHOLD, "\n".join(errors)
    assert held_acc >= HELD_OUT_THRESHOLD[lang], "\n".join(held_errors)


def test_independent_held_out_set() -> None:
    """70 answers written by someone who never saw the lexicon (measured once before this test
    existed: 66/70 intents); its telephone-band misses were studied in the sixth round. A drop below
    0.90 is a regression."""
    now, tz, rows = load_corpus("en", "heldout2_en.tsv")
    assert len(rows) == 70
    acc, slot_acc, errors = evaluate("en", rows, now, tz)
    print(f"\nindependent en held-out: intent {acc:.3f}, slots {slot_acc:.3f}")
    assert acc >= 0.90, "\n".join(errors)


def test_third_set_used_to_generalise_the_classifier() -> None:
    """90 answers by a third author; its misses (0.778 before) drove the generic rules (slot-driven
    promise, longest match, exact over fuzzy, hypotheticals), so it is a development set now."""
    now, tz, rows = load_corpus("en", "heldout3_en.tsv")
    assert len(rows) == 90
    acc, _slot_acc, errors = evaluate("en", rows, now, tz)
    assert acc >= 0.95, "\n".join(errors)


def test_fourth_set_used_for_the_second_round() -> None:
    """100 answers by a fourth author: measured once at 0.71 (old classifier) and 0.88 (after the
    first round of generic rules); its misses drove a second round (conditional "until", plural
    payments, fuzzy guesses yield to amounts and dates, amount/fee "is wrong" patterns), so it is a
    development set now."""
    now, tz, rows = load_corpus("en", "heldout4_en.tsv")
    assert len(rows) == 100
    acc, _slot_acc, errors = evaluate("en", rows, now, tz)
    assert acc >= 0.95, "\n".join(errors)


def test_fifth_set_used_for_the_sixth_round() -> None:
    """100 answers by a fifth author, written after the second round and measured once at 0.93 (text)
    and 0.89 (telephone band); its misses drove the sixth round of general rules (sound-alikes,
    exact-only short phrases, past payments, callbacks with a day and a time, confirmations, repair
    questions, slot renderings), so it is a development set now."""
    now, tz, rows = load_corpus("en", "heldout5_en.tsv")
    assert len(rows) == 100
    acc, slot_acc, errors = evaluate("en", rows, now, tz)
    print(f"\nfifth en set: intent {acc:.3f}, slots {slot_acc:.3f}")
    assert acc >= 0.97, "\n".join(errors)


def test_sixth_held_out_set() -> None:
    """120 answers written before the sixth round, never tuned on: measured at 0.90 (text) and 0.858
    (telephone band) before that round and once after it, 0.992 (text, slots 0.947) and 0.992
    (telephone band). Its author also wrote the sixth round's rules, so it is not independent of
    them. A drop below 0.97 is a regression."""
    now, tz, rows = load_corpus("en", "heldout6_en.tsv")
    assert len(rows) == 120
    acc, slot_acc, errors = evaluate("en", rows, now, tz)
    print(f"\nsixth en held-out: intent {acc:.3f}, slots {slot_acc:.3f}")
    assert acc >= 0.97, "\n".join(errors)
    assert slot_acc >= 0.92, "\n".join(errors)


def test_seventh_heldout_set_fresh_and_independent() -> None:
    """150 answers by a seventh author who saw neither the lexicon nor any earlier set; never tuned
    on. Measured 0.913 intent / 0.830 slots when it arrived: the floors guard against regressions."""
    now, tz, rows = load_corpus("en", "heldout7_en.tsv")
    assert len(rows) == 150
    acc, slot_acc, errors = evaluate("en", rows, now, tz)
    print(f"\nseventh en held-out: intent {acc:.3f}, slots {slot_acc:.3f}")
    assert acc >= 0.89, "\n".join(errors)
    assert slot_acc >= 0.80, "\n".join(errors)


def c(text: str, lang: Lang = "en") -> str:
    return classify(text, lang, NOW, NY).intent


@pytest.mark.parametrize(
    ("text", "lang", "intent"),
    [
        ("I already paid, stop calling", "en", "cease"),
        # generic rules: an amount or a coming date alone is an offer to pay; the longer phrase wins;
        # a misheard guess does not outvote exact words; "if i paid" is a hypothesis
        ("Seventy five bucks tomorrow, that's all I've got", "en", "promise_to_pay"),
        ("Yeah, on the 15th", "en", "promise_to_pay"),
        ("Yeah", "en", "affirm"),
        ("Don't call me at work", "en", "inconvenient_time"),
        ("Don't call me", "en", "cease"),
        ("What if I paid it off over six months", "en", "payment_plan"),
        ("I refuse to pay this", "en", "refuse"),
        ("Stop calling, talk to my lawyer", "en", "attorney"),
        ("That's not my debt, stop calling me", "en", "cease"),
        ("I lost my job but I can pay 50 next week", "en", "promise_to_pay"),
        ("I can pay 100 a month", "en", "payment_plan"),
        ("No, I already paid it", "en", "already_paid"),
        ("Yes, you have the wrong number", "en", "wrong_number"),
        ("我已经还了，别再打了", "zh", "cease"),
        ("不是我欠的，找我律师", "zh", "attorney"),
        ("这不是我欠的", "zh", "dispute"),
    ],
)
def test_priority(text: str, lang: Lang, intent: str) -> None:
    assert c(text, lang) == intent


def test_priority_documented_in_yaml_matches_module() -> None:
    from dunline.ivr.speech import intents

    order = load("en").priority
    assert " > ".join(order) in " ".join((intents.__doc__ or "").split())
    zh = list(order)  # Mandarin's two moves, as the docstring says
    zh.remove("refuse")
    zh.insert(zh.index("wrong_number") + 1, "refuse")
    zh.remove("payment_plan")
    zh.insert(zh.index("hardship"), "payment_plan")
    assert tuple(zh) == tuple(load("zh").priority)


@pytest.mark.parametrize(
    ("text", "lang", "not_intent", "intent"),
    [
        ("I can't pay", "en", "promise_to_pay", "hardship"),
        ("I won't pay", "en", "promise_to_pay", "refuse"),
        ("not my number", "en", "dispute", "wrong_number"),
        ("I don't have a lawyer", "en", "attorney", "unknown"),
        ("I haven't paid it", "en", "already_paid", "unknown"),
        ("I'm not sure", "en", "affirm", "unknown"),
        ("Don't call me back", "en", "callback_later", "cease"),
        ("No no, I'm not disputing anything, I already paid it", "en", "dispute", "already_paid"),
        ("I don't dispute the debt, I just can't pay it right now", "en", "dispute", "hardship"),
        ("You can't prove I owe this", "en", "unknown", "dispute"),  # a negation of its own
        ("我没有律师", "zh", "attorney", "unknown"),
        ("我不会还的", "zh", "promise_to_pay", "refuse"),
        ("不对", "zh", "affirm", "deny"),
    ],
)
def test_negation(text: str, lang: Lang, not_intent: str, intent: str) -> None:
    got = c(text, lang)
    assert got != not_intent
    assert got == intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # a negation or an "if" ends at a comma or a full stop
        ("Now's not good, call back Wednesday at two thirty.", "callback_later"),
        ("Not now. Try me Monday.", "callback_later"),
        ("Not me, call my lawyer.", "attorney"),
        # ... but not at a comma around a filler: a hesitation
        ("I'm not, uh, going to pay that", "refuse"),
        ("Now's not good call back Wednesday", "inconvenient_time"),  # unpunctuated: negated
        # a misheard phrase does not reach across a sentence: "know. maybe" is not "know anyone"
        ("I lost my job, so I don't know. Maybe we could do a plan later.", "hardship"),
        ("I don't know anyone named Marcus.", "wrong_number"),
    ],
)
def test_negation_and_misheard_phrases_stay_in_their_clause(text: str, intent: str) -> None:
    assert c(text, "en") == intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Quit blowing up my phone every single day", "cease"),
        ("You guys padded the balance with junk", "dispute"),
        ("It should only be three hundred, not six forty", "dispute"),
        ("You're charging me twice for the same thing", "dispute"),
        ("I paid it, and now you billed me for it again", "dispute"),
        ("The rest is late fees you people made up", "dispute"),
        ("I have no intention of paying that", "refuse"),
        ("I won't be making any payments to you", "refuse"),
        ("I can clear the balance next Friday", "promise_to_pay"),
        ("I can do a hundred a week from Friday", "promise_to_pay"),  # a date, not a weekly plan
        ("I can do a hundred a week", "payment_plan"),
        ("The payment went through on Monday", "already_paid"),
        ("Already handled it, I Venmoed it Sunday", "already_paid"),
        ("I don't owe anything anymore, I paid it off", "already_paid"),  # not a dispute
        ("The balance should be zero", "already_paid"),  # zero is no amount in dispute
        ("I'll have it taken care of by Friday", "promise_to_pay"),
        ("Call me back tomorrow, actually never mind, just take fifty now", "promise_to_pay"),
        ("I was sick all spring but I'm working again, I can cover a hundred Friday", "promise_to_pay"),
        ("I'll pay when pigs fly", "refuse"),
        ("Why should I pay you anything?", "refuse"),
        ("Show me a signed contract first", "dispute"),
        ("Someone stole my wallet and opened cards", "dispute"),
        ("My hours were cut, I'm not even making rent", "hardship"),  # not "not even mine"
        ("Don't you ever call me again", "cease"),
        ("You can call me again tonight at nine", "callback_later"),
        ("Split in three, seventy each", "payment_plan"),
        ("Uh-uh", "deny"),
        ("That'd be me", "affirm"),
        ("Hold on, somebody's at the door", "unknown"),  # not "at the doctor"
    ],
)
def test_everyday_phrasings(text: str, intent: str) -> None:
    assert c(text, "en") == intent


def test_marks_are_the_punctuation_before_each_token() -> None:
    from dunline.ivr.speech.lexicon import normalise_marked

    toks, marks = normalise_marked("I can't, uh, pay. Um, $200 at 3 p.m., OK", load("en"))
    assert toks == ["i", "cannot", "pay", "200", "dollars", "at", "3", "pm", "ok"]
    assert marks == [0, 0, 0, 2, 0, 0, 0, 0, 1]
    assert normalise_marked("别再打了，好吗", load("zh"))[1] == [0] * 6


def test_matched_explains_the_decision() -> None:
    r = classify("Please stop calling me.", "en", NOW, NY)
    assert (r.intent, r.matched) == ("cease", "en:cease:'stop calling'")
    fuzzy = classify("You've got the long number.", "en", NOW, NY)
    assert (
        fuzzy.intent == "wrong_number"
        and fuzzy.matched.startswith("en:wrong_number:~")
        and "long" in fuzzy.matched
    )
    zh = classify("别再打了", "zh", NOW, NY)
    assert zh.matched.startswith("zh:cease:'别再打")
    assert classify("I like turtles", "en", NOW, NY).matched == "en:unknown:no phrase matched"


def test_confidence_ranges() -> None:
    exact = classify("stop calling me", "en", NOW, NY)
    fuzzy = classify("stop colling me", "en", NOW, NY)
    nothing = classify("the dog is barking", "en", NOW, NY)
    assert 0.95 <= exact.confidence <= 1.0
    assert fuzzy.intent == "cease" and 0.6 <= fuzzy.confidence < 0.95
    assert nothing.intent == "unknown" and nothing.confidence <= 0.2
    assert classify("  ...  ", "en", NOW, NY).intent == "unknown"


def test_slots_only_for_the_winning_intent() -> None:
    r = classify("Yeah, I can pay $200 next Friday.", "en", NOW, NY)
    assert r.as_json() == {
        "intent": "promise_to_pay",
        "confidence": r.as_json()["confidence"],
        "slots": {"date": "2026-12-11", "amount": "200.00", "time": None},
        "matched": "en:promise_to_pay:'i can pay'",
    }
    paid = classify("I paid it on the 20th", "en", NOW, NY)  # what was paid lies in the past
    assert paid.slots.date is not None and paid.slots.date.isoformat() == "2026-11-20"
    assert classify("Call me back tomorrow at 3 pm", "en", NOW, NY).slots.amount is None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_intent_is_reachable(lang: Lang) -> None:
    now, tz, rows = load_corpus(lang)
    reached = {classify(r.text, lang, now, tz).intent for r in rows}
    assert reached == set(INTENTS)


def test_classify_is_deterministic_and_pure() -> None:
    texts = ["I can pay two hundred next Friday", "stop coloring me", "下周五还两千"]
    first = [classify(t, "zh" if t[0] > "~" else "en", NOW, NY) for t in texts]
    assert first == [classify(t, "zh" if t[0] > "~" else "en", NOW, NY) for t in texts]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="dunline")
    add_intent_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code = int(args.fn(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["intent", "--lang", "en", "Yeah, I can pay $200 next Friday.", "--json"]
    code, out, _ = run_cli([*argv, "--now", "2026-12-01T10:00:00", "--tz", "America/New_York"], capsys)
    doc = json.loads(out)
    assert code == 0 and list(doc) == ["intent", "confidence", "slots", "matched"]
    assert list(doc["slots"]) == ["date", "amount", "time"]
    assert doc["intent"] == "promise_to_pay" and isinstance(doc["confidence"], float)
    assert doc["slots"] == {"date": "2026-12-11", "amount": "200.00", "time": None}
    code, out, _ = run_cli(
        ["intent", "--lang", "zh", "明天下午三点再打", "--json", "--now", "2026-12-01T10:00"], capsys
    )
    assert json.loads(out)["slots"] == {"date": "2026-12-02", "amount": None, "time": "15:00"}
    code, out, _ = run_cli(["intent", "stop calling me"], capsys)
    assert code == 0 and out.startswith("cease (0.9") and "matched en:cease:'stop calling'" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["intent", "yes", "--now", "yesterday-ish"],
        ["intent", "yes", "--tz", "Mars/Olympus"],
        ["intent", "   "],
    ],
)
def test_cli_bad_input_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == "" and err.startswith("error:")


def test_a_word_is_not_fuzzily_its_longer_relative() -> None:
    # "month" must not match the payment-plan phrase "monthly" (seen on telephone-band speech)
    assert c("I'll send the money at the end of the month.") == "promise_to_pay"
    assert c("I can pay monthly.") == "payment_plan"


@pytest.mark.parametrize(
    ("text", "intent", "matched"),
    [
        # sound-alikes Whisper writes on the telephone band, inside phrases of two or more words
        ("stop coloring my phone", "cease", "en:cease:'stop calling'(heard 'stop coloring')"),
        ("please seize all contact with me", "cease", "en:cease:'cease all'(heard 'seize all')"),
        ("run number, buddy", "wrong_number", "en:wrong_number:'wrong number'(heard 'run number')"),
        ("bring me back on Tuesday at 4", "callback_later", "en:callback_later:'ring me back'(heard"),
        ("跟我的旅师谈", "attorney", "zh:attorney:'律师'(heard '旅师')"),
        # ... a lone sound-alike is not the word
        ("I run a small business and money is tight", "hardship", "en:hardship:'tight'"),
    ],
)
def test_sound_alikes(text: str, intent: str, matched: str) -> None:
    r = classify(text, "zh" if text[0] > "~" else "en", NOW, NY)
    assert r.intent == intent and r.matched.startswith(matched), r.matched
    if "heard" in matched:
        assert r.confidence < classify("stop calling my phone", "en", NOW, NY).confidence


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # short phrases are matched word for word only (`exact`)
        ("it's been snowing all week", "unknown"),
        ("I don't know, it's a long story", "unknown"),
        ("I'm not home right now, I'm driving", "inconvenient_time"),
        ("I won't be able to pay this month", "hardship"),
        # name-agnostic wrong party
        ("there's no Jessica here", "wrong_number"),
        ("there's no way I can pay that", "hardship"),
        ("I just got this phone a week ago", "wrong_number"),
        ("I'm not her, you want the old owner", "wrong_number"),
        ("I just got this letter yesterday", "unknown"),
        # fees and charges questioned or denied
        ("what are all these charges on my account", "dispute"),
        ("I never agreed to pay those fees", "dispute"),
        ("somebody opened that card in my name", "dispute"),
        ("the account is in my name", "unknown"),
        # "paid and full" is Whisper's "paid in full"
        ("it was paid and full back in June", "already_paid"),
        # a payment in the past tense is what was done, amount or not
        ("my son sent 250 last Tuesday", "already_paid"),
        ("we made the payment on Monday, 180 dollars", "already_paid"),
        ("I'll send 250 next Tuesday", "promise_to_pay"),
        ("what if I sent 80 every two weeks", "payment_plan"),
        ("it's done, I mailed it Friday", "already_paid"),
        # a day and a time asking for a call is a callback, not an offer
        ("give me the call Friday around noon", "callback_later"),
        ("could you ring that at 4 pm", "callback_later"),
        ("I'll call you back", "callback_later"),
        ("I'll give you a call back tomorrow", "callback_later"),
        # affirm-only answers
        ("mm-hmm", "affirm"),
        ("yep, you got it", "affirm"),
        # a read-back confirmed with its contents stays affirm; an offer said with a plain yes is a promise
        ("exactly, 150 on the 20th", "affirm"),
        ("yeah, 150 on the 20th", "promise_to_pay"),
        # a yes or no followed by a request to repeat is no answer
        ("hang on a second... yeah, what?", "unknown"),
        ("yes, what is this about", "affirm"),
        # the last clause decides: a plan after "but" beats a promise phrase there
        ("I can't pay it all but I can pay in monthly installments", "payment_plan"),
        ("I can't pay it all, can we do some kind of plan", "payment_plan"),
        ("I can't pay it all, I lost my job", "hardship"),
        # refusals with a coin, and "refuse" negating what follows
        ("I'm not giving you guys a single penny", "refuse"),
        ("I refuse to pay it", "refuse"),
        ("I don't have a penny to my name", "hardship"),
    ],
)
def test_general_rules_of_round_six(text: str, intent: str) -> None:
    assert c(text) == intent, classify(text, "en", NOW, NY).matched


def test_slots_of_round_six() -> None:
    def slots(text: str) -> dict[str, str | None]:
        return classify(text, "en", NOW, NY).as_json()["slots"]

    # a past payment takes a past date, even for a bare week day
    assert slots("we made the payment on Monday, 180 dollars") == {
        "date": "2026-11-30",
        "amount": "180.00",
        "time": None,
    }
    # a promise carries its time; "right now" is today
    assert slots("I'll pay 60 tomorrow at 10 am") == {
        "date": "2026-12-02",
        "amount": "60.00",
        "time": "10:00",
    }
    assert slots("take the whole thing right now")["date"] == "2026-12-01"
    # a dispute carries the amount the debtor says is right
    assert slots("the balance is wrong, I only owed 350")["amount"] == "350.00"
    # Whisper's "$1.00" for "one hundred dollars"
    assert slots("I can do $1.00 on Friday") == {"date": "2026-12-04", "amount": "100.00", "time": None}
    # a callback "tonight" is today
    assert slots("call me back at 845 tonight") == {"date": "2026-12-01", "amount": None, "time": "20:45"}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("今天天气怎么样", "unknown"),  # a question back names a day: no offer
        ("明天是几号来着？", "unknown"),
        ("周五还五百行吗", "promise_to_pay"),  # an offer put as a question is an offer
        ("我不认识李明", "wrong_number"),
        ("我是他老婆，他不在家", "wrong_number"),
        ("可以分三个月还吗", "payment_plan"),
        ("收到律师函了", "unknown"),  # a lawyer's letter received is no lawyer retained
        ("你去找我的律师", "attorney"),
    ],
)
def test_mandarin_answers_the_issue_named(text: str, intent: str) -> None:
    sh = ZoneInfo("Asia/Shanghai")
    assert classify(text, "zh", datetime(2026, 12, 8, 10, 0, tzinfo=sh), sh).intent == intent


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        # written by new authors, measured once (bench/results/speech_accuracy_zh*.json), then:
        ("heldout1_zh.tsv", 0.95),  # studied in the first Mandarin round (0.793 fresh -> 0.96)
        ("heldout2_zh.tsv", 0.95),  # studied in the first Mandarin round (0.78 fresh -> 0.953)
        ("heldout3_zh.tsv", 0.94),  # fresh after that round: 0.88; studied in the second (0.953)
        ("heldout4_zh.tsv", 0.87),  # fresh after the second round: 0.887, never tuned on
    ],
)
def test_mandarin_sets_do_not_regress(name: str, floor: float) -> None:
    now, tz, rows = load_corpus("zh", name)
    assert len(rows) == 150
    acc, _slots, errors = evaluate("zh", rows, now.replace(tzinfo=tz), tz)
    assert acc >= floor, "\n".join(errors)
