"""The strategy facts stored with each account (CSV columns and the JSON form), read back as the
account document, planned from the database, and stored as the plans campaigns select from."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dunline.controller.app import open_database

try:
    from helpers_attempts import promised_call
except ImportError:  # tests/ collected as a package
    from tests.integration.helpers_attempts import promised_call

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

NOW = "2026-12-01T11:00:00-08:00"
CSV = """external_id,account_ref,full_name,phone,phone_consent,principal,balance,due_date,region,timezone,\
paid,interest_rate,late_fee,overdue_count,max_days_overdue,on_time_ratio,credit_score,credit_trend,\
income_stability,spending,occupation
PF-D1,PF-A1,Dana Reyes,+14155550171,yes,5000.00,5000.00,2026-11-01,CA,America/Los_Angeles,\
0,18,35.00,2,12,0.8,640,falling,,,
PF-D2,PF-A2,Finn Lance,+14155550172,yes,8000.00,7900.00,2026-10-01,CA,America/Los_Angeles,\
100.00,24,,4,75,0.3,520,falling,unstable,large_irregular,freelancer
"""


def doc(ref: str, number: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": ref,
        "contact": {
            "country": "US",
            "region": "CA",
            "timezone": "America/Los_Angeles",
            "phones": [{"number": number, "type": "mobile", "consent": True}],
        },
        "identity": {"name": "Jo Json"},
        "loan": {"principal": "1200.00", "due_date": "2026-11-10"},
    }
    return {**base, **extra}


def plan_json(stack: Stack, *args: str) -> dict[str, object]:
    proc = stack.cli("plan", *args, "--now", NOW, "--json")
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_csv_strategy_columns_are_stored_and_plan_like_the_document(stack: Stack, tmp_path: Path) -> None:
    src = tmp_path / "pf.csv"
    src.write_text(CSV, "utf-8")
    proc = stack.cli("import", "accounts", str(src), "--upsert", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = plan_json(stack, "--account", "PF-A2")
    # the same account as a JSON document, planned without the database
    document = doc(
        "PF-A2",
        "+14155550172",
        debtor_id="PF-D2",
        identity={"name": "Finn Lance", "occupation": "freelancer"},
        loan={"principal": "8000.00", "due_date": "2026-10-01", "balance": "7900.00", "paid": "100.00",
              "interest_rate": "24"},
        behaviour={"overdue_count": 4, "max_days_overdue": 75, "on_time_ratio": 0.3},
        credit={"score": 520, "trend": "falling"},
        personal={"income_stability": "unstable", "spending": "large_irregular"},
    )  # fmt: skip
    path = tmp_path / "pf-a2.json"
    path.write_text(json.dumps(document))
    assert stored == plan_json(stack, str(path))
    assert stored["tier"] == "high" and stored["stage"] in ("mid", "late")
    low = plan_json(stack, "--account", "PF-A1")
    assert (
        isinstance(low["score"], int) and isinstance(stored["score"], int) and low["score"] > stored["score"]
    )


def test_bad_strategy_cells_are_named_and_nothing_is_stored(stack: Stack, tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(
        "external_id,account_ref,full_name,phone,principal,balance,due_date,credit_score,credit_trend,age\n"
        "PF-B1,PF-BAD1,Al Bad,+14155550173,10,10,2026-10-01,640,flat,\n"
        "PF-B2,PF-BAD2,Bo Bad,+14155550174,10,10,2026-10-01,1400,down,150\n",
        "utf-8",
    )
    proc = stack.cli("import", "accounts", str(src), "--json")
    assert proc.returncode == 2
    errors = {(e["row"], e["column"]): e for e in json.loads(proc.stdout)["errors"]}
    assert set(errors) == {(2, "credit_score"), (2, "credit_trend"), (2, "age")}
    assert errors[2, "age"]["value_masked"] == "***"  # personal data never echoed
    assert stack.cli("plan", "--account", "PF-BAD1", "--now", NOW).returncode == 2  # not stored


async def test_json_form_flags_windows_and_upsert_merge(stack: Stack, tmp_path: Path) -> None:
    first = doc(
        "PF-J1",
        "+14155550175",
        credit={"score": 700, "trend": "rising"},
        legal_step={"action": "file a claim in small claims court", "after_days": 14},
        variant="challenger",
    )
    first["contact"] = {  # type: ignore[index]
        **first["contact"],  # type: ignore[dict-item]
        "flags": ["dispute"],
        "debtor_windows": [{"start": "09:00", "end": "17:00", "days": ["mon", "tue", "wed", "thu", "fri"]}],
        "phones": [
            {"number": "+14155550175", "type": "mobile", "consent": True},
            {"number": "+14155550176", "type": "landline", "role": "contact", "refused": True},
        ],
    }
    src = tmp_path / "accounts.json"
    src.write_text(json.dumps([first]))
    proc = stack.cli("import", "accounts", str(src), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = plan_json(stack, "--account", "PF-J1")
    assert plan["stage"] == "hold" and plan["variant"] == "challenger"  # the dispute flag holds it

    # a re-import that gives only the score keeps the trend, never lifts the flag or un-refuses a number
    again = doc("PF-J1", "+14155550175", credit={"score": 610})
    again["contact"] = {**again["contact"], "phones": [  # type: ignore[dict-item]
        {"number": "+14155550175", "type": "mobile", "consent": True},
        {"number": "+14155550176", "type": "landline", "role": "contact"},
    ]}  # fmt: skip
    src.write_text(json.dumps([again]))
    assert stack.cli("import", "accounts", str(src), "--upsert", "--json").returncode == 0
    pool, _ = await open_database(stack.settings)
    try:
        row = await pool.fetchrow(
            "SELECT a.profile, a.flags, d.debtor_windows FROM accounts a JOIN debtors d ON d.id = a.debtor_id"
            " WHERE a.account_ref = 'PF-J1'"
        )
        assert row is not None
        assert row["profile"]["credit"] == {"score": 610, "trend": "rising"}
        assert row["profile"]["legal_step"]["after_days"] == 14 and row["flags"] == ["dispute"]
        assert row["debtor_windows"][0]["start"] == "09:00"
        phone = await pool.fetchrow("SELECT role, refused FROM phones WHERE number_e164 = '+14155550176'")
        assert phone is not None and (phone["role"], phone["refused"]) == ("contact", True)
    finally:
        await pool.close()

    bad = [doc("PF-J2", "+14155550177"), {**doc("PF-J3", "+14155550178"), "loan": {"principal": "-5"}}]
    src.write_text(json.dumps(bad))
    proc = stack.cli("import", "accounts", str(src), "--json")
    assert proc.returncode == 2
    fields = {(e["row"], e["column"]) for e in json.loads(proc.stdout)["errors"]}
    assert (2, "loan.principal") in fields
    assert (
        stack.cli("plan", "--account", "PF-J2", "--now", NOW).returncode == 2
    )  # document 1 not stored either


async def test_stored_history_and_promise_drive_the_plan_and_plans_are_stored(
    stack: Stack, tmp_path: Path
) -> None:
    src = tmp_path / "h.json"
    src.write_text(json.dumps([doc("PF-H1", "+14155550179")]))
    assert stack.cli("import", "accounts", str(src), "--upsert", "--json").returncode == 0
    now = datetime.fromisoformat(NOW)
    pool, _ = await open_database(stack.settings)
    try:
        at = now.astimezone(UTC) - timedelta(days=2)
        due = (now + timedelta(days=5)).date().isoformat()
        acc = await promised_call(pool, "PF-H1", at, due, "300.00", template="reminder_call")
    finally:
        await pool.close()
    plan = plan_json(stack, "--account", "PF-H1")
    assert any(f"promise pending for {due}" in r for r in plan["reasons"])  # type: ignore[union-attr]
    assert [s["template"] for s in plan["steps"]] == ["promise_reminder_sms"]  # type: ignore[union-attr]

    proc = stack.cli("strategy", "plans", "--now", NOW, "--json")
    assert proc.returncode in (0, 2), proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["planned"] + len(summary["invalid"]) == summary["accounts"] >= 4
    assert sum(summary["by_tier"].values()) == summary["planned"]
    pool, _ = await open_database(stack.settings)
    try:
        rows = await pool.fetch("SELECT * FROM account_plans")
        assert len(rows) == summary["planned"]
        mine = next(r for r in rows if r["account_id"] == acc.account_id)
        assert mine["next_template"] == "promise_reminder_sms" and mine["next_channel"] == "sms"
        assert mine["next_at"] == datetime.fromisoformat(plan["steps"][0]["at"])  # type: ignore[index]
    finally:
        await pool.close()
