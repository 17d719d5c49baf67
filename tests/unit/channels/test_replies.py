"""Replies to texts (dunline/channels/replies.py): opt-out words first, then the speech intents."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dunline.channels.replies import read

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # a Monday
LA, SH = ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop.", " QUIT ", "end", "Opt out", "UNSUBSCRIBE",
                                  "revoke", "退订", "TD", "t", "R", "取消"])  # fmt: skip
def test_opt_out_words(text: str) -> None:
    r = read(text, NOW, LA)
    assert r.opt_out and r.intent == "opt_out" and not r.needs_person


@pytest.mark.parametrize("text", ["please don't text me again", "stop texting me", "别再发短信了"])
def test_asking_to_stop_in_words_opts_out_too(text: str) -> None:
    r = read(text, NOW, LA)
    assert r.opt_out and r.intent == "cease"


def test_answers_become_outcomes_with_slots() -> None:
    r = read("I will pay 200 on Friday", NOW, LA)
    assert (r.intent, r.opt_out, r.needs_person) == ("promise_to_pay", False, False)
    assert r.result is not None and r.result.slots.amount == Decimal("200")
    assert r.result.slots.date == date(2026, 12, 11)
    assert read("这不是我的号码", NOW, SH).intent == "wrong_number"
    assert read("I paid yesterday", NOW, LA).intent == "already_paid"
    assert read("call me tomorrow", NOW, LA).intent == "callback_later"


@pytest.mark.parametrize("text", ["who is this?", "ok", "??"])
def test_unclear_replies_go_to_a_person(text: str) -> None:
    r = read(text, NOW, LA)
    assert r.needs_person and not r.opt_out


def test_stop_inside_a_sentence_is_not_the_bare_word() -> None:
    r = read("can you stop by the office?", NOW, LA)
    assert r.intent != "opt_out"


def test_what_a_reply_changes() -> None:
    from dunline.channels.replies import effects

    def does(text: str, tz: ZoneInfo = LA) -> object:
        return effects(read(text, NOW, tz), text)

    promise = does("I will pay 200 on Friday")
    assert promise.outcome == "promise_to_pay" and promise.promise == {
        "date": "2026-12-11",
        "amount": "200.00",
    }
    assert does("STOP").flags == ("sms_opt_out",)
    assert does("stop texting me").flags == ("sms_opt_out",)  # texts only
    assert "cease" in does("stop contacting me").flags  # every channel
    assert does("这不是我的号码", SH).wrong_number
    assert "dispute" in does("I don't owe this, I dispute it").flags
    unclear = does("who is this?")
    assert unclear.outcome is None and unclear.flags == () and not unclear.wrong_number


def test_a_promise_without_a_date_waits_for_a_person() -> None:
    r = read("I will pay you", NOW, LA)
    assert r.needs_person
