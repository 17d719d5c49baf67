"""The demo's tables: calls with masked numbers, and what each voice debtor said and was understood as."""

from __future__ import annotations

from dunline.controller.demo import DEMO_NUMBERS, VOICE_NUMBERS, render_table


def _doc(heard: list[dict[str, str]]) -> dict:
    call = {
        "account": "ACC-2001",
        "number": "+8613800138001",
        "result": "answered",
        "outcome": "promise_to_pay",
        "attempt_id": "e8a788a3-0000-0000-0000-000000000000",
        "blocked_by": [],
        "next_allowed_at": None,
        "heard": heard,
    }
    return {"calls": [call], "clock": {"simulated": False, "start": ""}, "duration_s": 12.0}


def test_voice_debtors_show_what_was_said_and_understood() -> None:
    text = render_table(
        _doc(
            [{"text": "十五号我先还三千块。", "intent": "promise_to_pay"}, {"text": "", "intent": "unknown"}]
        )
    )
    assert "What the voice debtors said" in text
    assert "十五号我先还三千块。" in text and "(not recognised)" in text
    assert "+8613800138001" not in text and "+8******8001" in text  # the number masked


def test_keypad_only_demo_has_no_voice_table() -> None:
    assert "What the voice debtors said" not in render_table(_doc([]))
    assert not set(DEMO_NUMBERS) & set(VOICE_NUMBERS)
