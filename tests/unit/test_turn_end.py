"""Is an answer finished at its first pause? Each rule of turn_end.why_wait on both sides."""

from __future__ import annotations

import pytest

from dunline.ivr.speech.turn_end import HOLD_REASONS, trails_off, why_wait

YES_NO = {"affirm", "deny"}
WHEN = {"promise_to_pay", "already_paid", "payment_plan", "hardship", "dispute", "callback_later", "refuse"}
FULL = {"amount": "300.00", "date": "2026-12-15"}


@pytest.mark.parametrize(
    ("text", "lang", "trailing"),
    [
        ("Yes, that's me.", "en", False),
        ("No.", "en", False),
        ("Yes it is", "en", False),
        ("I can pay...", "en", True),
        ("I can pay…", "en", True),
        ("Yes, but", "en", True),
        ("Yes, but.", "en", True),  # Whisper closes what it heard with a full stop
        ("Two hundred on", "en", True),
        ("So I get paid on.", "en", True),
        ("Yeah, but I'm.", "en", True),
        ("Yes, um.", "en", True),
        ("Yes,", "en", True),
        ("", "en", True),
        ("是的，我就是。", "zh", False),
        ("十五号还三千。", "zh", False),
        ("我下周五然后", "zh", True),
        ("对，但是", "zh", True),
        ("那个，呃", "zh", True),
        ("我想想，", "zh", True),
    ],
)
def test_trails_off(text: str, lang: str, trailing: bool) -> None:
    assert trails_off(text, lang) is trailing  # type: ignore[arg-type]


def test_a_finished_yes_or_no_is_taken() -> None:
    assert why_wait("Yes, that's me.", "en", "affirm", 0.97, {}, False, YES_NO) is None
    assert why_wait("不是。", "zh", "deny", 0.95, {}, False, YES_NO) is None


def test_a_promise_needs_its_amount_and_its_date() -> None:
    text = "I can pay 300 on the fifteenth."
    assert why_wait(text, "en", "promise_to_pay", 0.95, FULL, False, WHEN) is None
    assert why_wait("Three hundred.", "en", "promise_to_pay", 0.95, {"amount": "300.00"}, False, WHEN) == (
        "incomplete"
    )
    assert why_wait("On Friday.", "en", "promise_to_pay", 0.95, {"date": "2026-12-11"}, False, WHEN) == (
        "incomplete"
    )


@pytest.mark.parametrize(
    ("text", "intent", "conf", "doubtful", "expected", "reason"),
    [
        ("Yes, but", "affirm", 0.97, False, YES_NO, "trailing"),  # trailing comes first
        ("I thank you.", "unknown", 0.1, True, YES_NO, "unclear"),
        ("Stop calling me.", "cease", 0.99, False, YES_NO, "not_asked"),  # legal flags wait
        ("I already paid.", "already_paid", 0.97, False, WHEN, "not_asked"),  # only yes/no/promise
        ("Yes.", "affirm", 0.97, False, WHEN, "not_asked"),  # not an answer to this question
        ("Yes.", "affirm", 0.89, False, YES_NO, "unsure"),
        ("Yes.", "affirm", 0.97, True, YES_NO, "unsure"),
    ],
)
def test_reasons_to_wait(
    text: str, intent: str, conf: float, doubtful: bool, expected: set[str], reason: str
) -> None:
    assert why_wait(text, "en", intent, conf, {}, doubtful, expected) == reason


def test_hold_reasons_are_the_mid_sentence_ones() -> None:
    assert {"trailing", "unclear", "incomplete"} == HOLD_REASONS
