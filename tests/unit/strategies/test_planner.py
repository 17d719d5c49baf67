"""The planner on the issue's seed cases, and its rules one by one (pure: no I/O)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dunline.strategies.history import HistoryError, Touch, parse_history
from dunline.strategies.ladder import default_ladder, variant_of
from dunline.strategies.planner import plan
from dunline.strategies.profile import ProfileError, parse_profile
from dunline.strategies.scorecard import ScorecardError, default_card, parse_card, score

LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=LA)  # Tuesday
PHONE = "+14155550131"
EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


def account(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "SEED",
        "contact": {
            "country": "US",
            "region": "CA",
            "timezone": "America/Los_Angeles",
            "phones": [{"number": PHONE, "type": "mobile", "consent": True}],
            "flags": [],
        },
        "loan": {
            "principal": "5000.00",
            "due_date": "2026-11-01",
            "balance": "5000.00",
            "interest_rate": "18",
        },
    }
    for key, value in over.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    return doc


def touches(entries: list[dict[str, Any]]) -> list[Touch]:
    return parse_history(entries)


def outbound(days_ago: float, channel: str, result: str, template: str, **extra: Any) -> dict[str, Any]:
    at = NOW - timedelta(days=days_ago)
    entry = {"at": at.isoformat(), "channel": channel, "direction": "outbound", "result": result}
    entry |= {"phone": PHONE, "template": template, **extra}
    return entry


# ---- seed case 1 ------------------------------------------------------------------------------------
def test_seed_5000_loan_30_days_overdue_two_small_overdues_falling_credit() -> None:
    p = parse_profile(account(behaviour={"overdue_count": 2}, credit={"score": 640, "trend": "falling"}))
    result = plan(p, [], NOW)
    assert result.score.tier == "medium"
    assert {"CREDIT_SCORE_FALLING", "PRIOR_OVERDUES_1_2"} <= set(result.score.reasons)
    assert result.stage == "early"
    first = result.steps[0]
    assert (first.channel, first.template) == ("sms", "reminder_sms")  # a gentle reminder first
    assert first.at == datetime(2026, 12, 1, 10, 0, tzinfo=LA)  # its preferred local time, inside the window
    assert all(s.at >= NOW for s in result.steps)


# ---- seed case 2 ------------------------------------------------------------------------------------
def test_seed_freelancer_with_irregular_spending_gets_a_firm_first_call() -> None:
    doc = account(
        identity={"occupation": "freelancer"},
        personal={"income_stability": "unstable", "spending": "large_irregular"},
        credit={"trend": "falling"},
        behaviour={"overdue_count": 3},
        legal_step={"action": "file a claim in small claims court"},
    )
    result = plan(parse_profile(doc), [], NOW)
    assert result.score.tier == "high"
    assert {"UNSTABLE_INCOME", "LARGE_IRREGULAR_SPENDING"} & set(result.score.reasons)
    assert result.stage == "mid"
    calls = [s for s in result.steps if s.channel.endswith("call")]
    assert calls[0].template == "negotiation_call" and "firm" in calls[0].reason
    assert "high risk starts at mid" in result.reasons


# ---- seed case 3 ------------------------------------------------------------------------------------
def test_seed_ignored_reminders_escalate_to_a_legal_letter_then_a_plan_settles_it() -> None:
    doc = account(behaviour={"overdue_count": 0}, credit={"trend": "flat"}, loan={"due_date": "2026-11-20"},
                  legal_step={"action": "file a claim in small claims court"})  # fmt: skip
    p = parse_profile(doc)
    assert plan(p, [], NOW).stage == "early"
    ignored = [outbound(12 - i, "sms" if i % 2 else "call", "delivered" if i % 2 else "no_answer",
                        "reminder_sms" if i % 2 else "reminder_call") for i in range(4)]  # fmt: skip
    mid = plan(p, touches(ignored), NOW)
    assert mid.stage == "mid" and any("without a response" in r for r in mid.reasons)
    templates = {s.template for s in mid.steps}
    assert {"negotiation_call", "plan_offer_letter"} <= templates  # interest facts and a flexible plan
    more = ignored + [outbound(6 - i, "call", "no_answer", "negotiation_call") for i in range(5)]
    late = plan(p, touches(more), NOW)
    assert late.stage == "late"
    assert "legal_warning_letter" in {s.template for s in late.steps}
    talk = {"at": (NOW - timedelta(hours=2)).isoformat(), "channel": "call", "direction": "inbound"}
    talk |= {"result": "conversation", "phone": PHONE, "promise": {"date": "2026-12-10", "amount": "400.00"}}
    settle = [*more, talk]
    settled = plan(p, touches(settle), NOW)
    assert any("promise pending for 2026-12-10" in r for r in settled.reasons)
    assert [s.template for s in settled.steps] == ["promise_reminder_sms"]
    assert settled.steps[0].at.astimezone(LA).date().isoformat() == "2026-12-09"


def test_without_a_legal_step_the_late_stage_uses_no_legal_wording() -> None:
    p = parse_profile(account(loan={"due_date": "2026-09-01"}))  # 91 days: late by days overdue
    result = plan(p, [], NOW)
    assert result.stage == "late"
    assert not {"legal_warning_letter", "final_call"} & {s.template for s in result.steps}
    assert any("no legal step configured" in r for r in result.reasons)


# ---- seed case 4 ------------------------------------------------------------------------------------
def test_seed_a_debtor_who_ignores_calls_but_reads_sms_gets_sms() -> None:
    history = [outbound(9 - i, "call", "no_answer", "reminder_call") for i in range(3)]
    history += [outbound(8.5 - i, "sms", "read", "reminder_sms") for i in range(2)]
    p = parse_profile(account(loan={"due_date": "2026-11-10"}))
    result = plan(p, touches(history), NOW)
    assert result.steps and all(s.channel == "sms" for s in result.steps)
    assert any("SMS with the key consequences instead of calls" in r for r in result.reasons)


def test_calls_move_to_the_time_band_that_answers() -> None:
    evening = NOW.replace(hour=18, minute=30)
    history = []
    for i in range(3):
        history.append(
            outbound(0, "call", "no_answer", "x", at=(evening - timedelta(days=6 - i)).isoformat())
        )
        history.append(outbound(0, "call", "answered", "x", at=(NOW - timedelta(days=6 - i)).isoformat()))
    p = parse_profile(account(loan={"due_date": "2026-11-25"}))
    result = plan(p, touches(history), NOW)
    calls = [s for s in result.steps if s.channel.endswith("call")]
    assert calls and all(s.at.astimezone(LA).hour == 10 for s in calls)
    assert any("calls answered best in the morning" in r for r in result.reasons)


# ---- holds, promises, the gate -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flag", "stage"),
    [("cease", "stopped"), ("attorney", "stopped"), ("dispute", "hold"), ("hardship", "hardship")],
)
def test_flags_set_the_stage(flag: str, stage: str) -> None:
    p = parse_profile(account(contact={"flags": [flag]}))
    result = plan(p, [], NOW)
    assert result.stage == stage
    if stage in ("stopped", "hold"):
        assert result.steps == ()
    else:
        assert [s.template for s in result.steps][:1] == ["hardship_offer"]


def test_a_broken_promise_escalates_and_a_paid_account_stops() -> None:
    promise = {"at": (NOW - timedelta(days=10)).isoformat(), "channel": "call", "direction": "outbound"}
    promise |= {
        "result": "conversation",
        "phone": PHONE,
        "promise": {"date": "2026-11-24", "amount": "300.00"},
    }
    p = parse_profile(account(loan={"due_date": "2026-11-20"}))
    broken = plan(p, touches([promise]), NOW)
    assert broken.stage == "mid" and any("broken promise" in r for r in broken.reasons)
    kept = parse_profile(account(loan={"due_date": "2026-11-20"}, payments=[
        {"at": (NOW - timedelta(days=8)).isoformat(), "amount": "300.00"}]))  # fmt: skip
    assert plan(kept, touches([promise]), NOW).stage == "early"
    paid = parse_profile(account(loan={"balance": "0"}))
    assert plan(paid, [], NOW).stage == "stopped"


def test_every_step_passes_the_compliance_gate() -> None:
    night = datetime(2026, 12, 1, 6, 0, tzinfo=LA)
    p = parse_profile(account())
    result = plan(p, [], night)
    assert result.steps
    for s in result.steps:
        local = s.at.astimezone(LA)
        if s.channel != "letter":
            assert 8 <= local.hour < 21, s
    # seven calls in the last week: no call before the oldest one leaves the 7-day window
    week = [outbound(6.5 - i * 0.5, "call", "no_answer", "reminder_call") for i in range(7)]
    capped = plan(p, touches(week), NOW)
    oldest = NOW - timedelta(days=6.5)
    for s in capped.steps:
        if s.channel.endswith("call"):
            assert s.at >= oldest + timedelta(days=7), s


def test_no_consent_means_no_automated_call_steps() -> None:
    p = parse_profile(account(contact={"phones": [{"number": PHONE, "type": "mobile", "consent": False}]}))
    result = plan(p, [], NOW)
    assert not [s for s in result.steps if s.channel == "ivr_call"]


# ---- scorecard, variants, documents ----------------------------------------------------------------------
def test_protected_attributes_are_off_and_cannot_be_turned_on_silently() -> None:
    p = parse_profile(account(identity={"age": 19}))
    assert "age" not in score(default_card(), p, NOW.date()).points
    raw = default_card().model_dump(mode="json")
    raw["features"]["age"]["enabled"] = True
    with pytest.raises(ScorecardError, match="protected attribute"):
        parse_card(raw)
    raw["allow_protected"] = True
    assert "age" in score(parse_card(raw), p, NOW.date()).points


def test_variants_are_stable_and_follow_the_shares() -> None:
    ladder = default_ladder()
    names = [variant_of(f"ACC-{i}", ladder) for i in range(4000)]
    assert names == [variant_of(f"ACC-{i}", ladder) for i in range(4000)]
    share = names.count("challenger") / len(names)
    assert 0.17 < share < 0.23


def test_bad_documents_name_the_field() -> None:
    with pytest.raises(ProfileError, match=r"loan\.balance"):
        parse_profile(account(loan={"balance": "-5"}))
    with pytest.raises(ProfileError, match=r"contact\.country"):
        parse_profile(account(contact={"country": "XX"}))
    with pytest.raises(ProfileError, match="surprise"):
        parse_profile(account(surprise=1))
    with pytest.raises(HistoryError, match=r"0\.promise\.date"):
        parse_history([outbound(1, "call", "conversation", "x", promise={"date": "soon"})])


def test_the_command_line_prints_the_documented_json(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps([outbound(3, "sms", "delivered", "reminder_sms")]))
    proc = subprocess.run(
        [sys.executable, "-m", "dunline.controller.cli", "plan", str(EXAMPLES / "account_seed1.json"),
         "--history", str(history), "--now", NOW.isoformat(), "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"score", "tier", "reasons", "stage", "steps"}
    assert isinstance(doc["score"], int) and doc["stage"] in (
        "early",
        "mid",
        "late",
        "hardship",
        "hold",
        "stopped",
    )
    assert all(set(s) == {"at", "channel", "template", "reason"} for s in doc["steps"])
    bad = subprocess.run(
        [sys.executable, "-m", "dunline.controller.cli", "plan", str(history)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "error:" in bad.stderr


def test_every_ladder_step_has_a_script_in_both_languages_and_legal_flags_agree() -> None:
    from dunline.strategies.scripts import load_scripts

    ladder = default_ladder()
    for lang in ("en", "zh"):
        scripts = load_scripts(lang)
        for stage, spec in ladder.stages.items():
            for step in spec.steps:
                assert step.template in scripts, (lang, stage, step.template)
                assert scripts[step.template].legal == step.legal, (lang, step.template)
        assert "promise_reminder_sms" in scripts


def test_strategy_fit_is_registered_on_the_command_line() -> None:
    sample = Path(__file__).resolve().parents[2] / "fixtures" / "strategies" / "history_sample.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "dunline.controller.cli", "strategy", "fit", str(sample), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["auc_test"] > 0.65 and doc["n_test"] > 0
