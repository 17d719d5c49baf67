"""The compliance gate on the real dial path: real PBX and carrier simulator, real PostgreSQL.

Nothing reaches the carrier without an allowed verdict; every verdict is stored with its rules; a
conversation locks the account out for 7 days; concurrent dialers cannot both take the last allowed
call; `dunline audit` shows the decisions; the retention purge deletes only what is past retention.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from dunline.controller.app import Controller, Runtime, open_database, run_campaign
from dunline.controller.clocks import starting_at
from dunline.controller.retention import purge
from dunline.dialer import clearance
from dunline.portfolio.report import import_file
from dunline.store.accounts import AccountView, list_dialable, load_account

try:
    from helpers_attempts import stored_call
except ImportError:  # tests/ collected as a package
    from tests.integration.helpers_attempts import stored_call

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

LA = ZoneInfo("America/Los_Angeles")
HEADER = "external_id,account_ref,full_name,phone,phone_type,phone_consent,balance,principal,due_date,"
CSV = (
    HEADER
    + """language,timezone,region,country
G-1,ACC-G1,Nora Night,+14155550105,mobile,yes,100.00,100.00,2026-10-01,en,America/Los_Angeles,CA,US
G-2,ACC-G2,Lena Lockout,+14155550101,mobile,yes,700.00,700.00,2026-10-01,en,America/Los_Angeles,CA,US
G-3,ACC-G3,Carl Cap,+14155550104,mobile,yes,300.00,300.00,2026-10-01,en,America/Los_Angeles,CA,US
G-4,ACC-G4,Olga Old,+14155550106,mobile,yes,300.00,300.00,2026-10-01,en,America/Los_Angeles,CA,US
G-5,ACC-G5,Nico Noconsent,+14155550102,mobile,no,300.00,300.00,2026-10-01,en,America/Los_Angeles,CA,US
"""
)


async def _accounts(rt: Runtime, csv: Path, *refs: str) -> list[AccountView]:
    await import_file(rt.pool, csv, upsert=True)
    found = [a for a in await list_dialable(rt.pool, 1000) if a.account_ref in refs]
    assert sorted(a.account_ref for a in found) == sorted(refs)
    return found


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "gate.csv"
    path.write_text(CSV, "utf-8")
    return path


async def test_a_call_before_8am_is_blocked_stored_and_never_dialled(stack: Stack, csv: Path) -> None:
    lawful = stack.clock()
    night = datetime.combine(lawful.astimezone(LA).date(), time(6, 30), tzinfo=LA)
    async with Controller(stack.settings, start_asterisk=False, clock=starting_at(night)) as rt:
        (acc,) = await _accounts(rt, csv, "ACC-G1")
        (result,) = await run_campaign(rt, "night", [acc])
        assert (result.state, result.attempt_id, result.blocked_by) == ("blocked", None, ("window",))
        assert result.next_allowed_at == datetime.combine(night.date(), time(8, 0), tzinfo=LA)
        assert (
            await rt.pool.fetchval("SELECT count(*) FROM attempts WHERE account_id = $1", acc.account_id) == 0
        )
        v = await rt.pool.fetchrow("SELECT * FROM verdicts WHERE account_id = $1", acc.account_id)
        assert (v["allowed"], v["rules"], v["kind"], v["attempt_id"]) == (
            False,
            ["window"],
            "prerecorded",
            None,
        )
        assert "America/Los_Angeles" in v["reasons"][0] and v["profiles"] == ["baseline", "us"]
        # the carrier simulator saw no call: its channels stay empty and no attempt exists to correlate
        assert not [c for c in await rt.ari.list_channels() if "carrier" in c.get("name", "")]


async def test_a_mobile_without_consent_gets_no_artificial_voice_call(stack: Stack, csv: Path) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        (acc,) = await _accounts(rt, csv, "ACC-G5")
        (result,) = await run_campaign(rt, "consent", [acc])
        # an AI voice without consent, and a machine-dialled call to a mobile without consent
        assert set(result.blocked_by) == {"tcpa-consent", "tcpa-autodialer"}
        assert result.next_allowed_at is None
        assert (
            await rt.pool.fetchval("SELECT count(*) FROM attempts WHERE account_id = $1", acc.account_id) == 0
        )


async def test_a_conversation_locks_the_account_out_until_day_eight(stack: Stack, csv: Path) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        (acc,) = await _accounts(rt, csv, "ACC-G2")
        (first,) = await run_campaign(rt, "lockout-1", [acc])
        assert (first.state, first.outcome) == ("completed", "promise_to_pay"), first
        conversation_day = stack.clock().astimezone(LA).date()
        (second,) = await run_campaign(rt, "lockout-2", [acc])
        assert second.state == "blocked" and second.blocked_by == ("lockout-7",)
        # day 8 starts at local midnight, and calls may start at 8:00 (both rules hold there)
        day8 = conversation_day + timedelta(days=7)
        assert second.next_allowed_at == datetime.combine(day8, time(8, 0), tzinfo=LA)
        rows = await rt.pool.fetch(
            "SELECT allowed, rules, attempt_id FROM verdicts WHERE account_id = $1 ORDER BY id",
            acc.account_id,
        )
        assert [(r["allowed"], r["rules"]) for r in rows] == [(True, []), (False, ["lockout-7"])]
        assert rows[0]["attempt_id"] is not None and rows[1]["attempt_id"] is None

    proc = stack.cli("audit", "ACC-G2", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [d["allowed"] for d in doc["decisions"]] == [True, False]
    assert (
        doc["decisions"][0]["outcomes"] == ["promise_to_pay"] and doc["decisions"][0]["state"] == "completed"
    )
    assert doc["decisions"][1]["rules"] == ["lockout-7"]
    assert doc["decisions"][0]["number_e164"] == "+1******0101"  # masked in the audit view
    text = stack.cli("audit", "ACC-G2")
    assert "BLOCKED by lockout-7" in text.stdout and "0101" in text.stdout and "4155550101" not in text.stdout
    assert stack.cli("audit", "ACC-NOPE").returncode == 2


async def test_concurrent_dialers_cannot_both_take_the_last_allowed_call(stack: Stack, csv: Path) -> None:
    pool, _ = await open_database(stack.settings)
    try:
        await import_file(pool, csv, upsert=True)
        acc = await load_account(pool, "ACC-G3")
        assert acc is not None and acc.phone_id is not None and acc.phone_e164 is not None
        t = stack.clock() + timedelta(days=20)  # clear of every other test's calls
        for i in range(6):  # six placed calls in the last week: one more is allowed (Reg F 7-in-7)
            await stored_call(pool, acc, t - timedelta(days=6, hours=-i), ("dialing", "no_answer"), stamped=t)

        async def one() -> clearance.Clearance:
            return await clearance.clear(
                pool,
                account_id=acc.account_id,
                phone_id=acc.phone_id,
                number=acc.phone_e164,
                campaign_id=None,
                kind="agent",
                caller_id="+14155550100",
                at=t,
            )

        results = await asyncio.gather(*(one() for _ in range(5)))
        allowed = [r for r in results if r.verdict.allowed]
        assert len(allowed) == 1 and allowed[0].attempt_id is not None
        assert all(r.verdict.rules == ("freq-7in7",) for r in results if not r.verdict.allowed)
        stored = await pool.fetch(
            "SELECT allowed FROM verdicts WHERE account_id = $1 AND at = $2", acc.account_id, t
        )
        assert sorted(r["allowed"] for r in stored) == [False, False, False, False, True]
    finally:
        await pool.close()


async def test_retention_purge_deletes_only_what_is_past_retention(stack: Stack, csv: Path) -> None:
    pool, _ = await open_database(stack.settings)
    try:
        await import_file(pool, csv, upsert=True)
        acc = await load_account(pool, "ACC-G4")
        assert acc is not None and acc.phone_id is not None and acc.phone_e164 is not None
        now = datetime.now(UTC)
        old = now - timedelta(days=3 * 365 + 30)  # US: 3 years after the last activity
        await stored_call(pool, acc, old, ("dialing", "busy"))
        dry = await purge(pool, now, dry_run=True)
        assert [p["account"] for p in dry["purged"]] == ["ACC-G4"] and dry["kept"] >= 1
        assert await pool.fetchval("SELECT count(*) FROM attempts WHERE account_id = $1", acc.account_id) == 1
        done = await purge(pool, now)
        assert [p["account"] for p in done["purged"]] == ["ACC-G4"]
        assert done["purged"][0]["retention_days"] == 1095 and done["purged"][0]["profile"] == "us"
        assert done["purged"][0]["deleted"]["attempts"] == 1
        assert await pool.fetchval("SELECT count(*) FROM attempts WHERE account_id = $1", acc.account_id) == 0
        assert (
            await pool.fetchval("SELECT count(*) FROM contact_ledger WHERE account_id = $1", acc.account_id)
            == 0
        )
        note = await pool.fetchrow("SELECT actor, action, detail FROM audit_log WHERE action = 'purge'")
        assert (note["actor"], note["detail"]["profile"]) == ("retention", "us")
        # the account itself stays (the balance is still owed); only its contact records went
        assert await pool.fetchval("SELECT count(*) FROM accounts WHERE id = $1", acc.account_id) == 1
    finally:
        await pool.close()


async def test_an_operator_sets_and_lifts_a_hold_with_a_reason_in_the_audit_log(
    stack: Stack, csv: Path
) -> None:
    pool, _ = await open_database(stack.settings)
    try:
        await import_file(pool, csv, upsert=True)
    finally:
        await pool.close()
    set_ = stack.cli("compliance", "flag", "ACC-G1", "dispute", "--reason", "debtor wrote in", "--json")
    assert set_.returncode == 0, set_.stderr
    assert "dispute" in json.loads(set_.stdout)["flags"]
    lift = stack.cli("compliance", "flag", "ACC-G1", "dispute", "--lift", "--reason", "verification sent")
    assert lift.returncode == 0 and "dispute lifted" in lift.stdout
    assert stack.cli("compliance", "flag", "ACC-G1", "dispute", "--reason", " ").returncode == 2
    assert stack.cli("compliance", "flag", "ACC-NOPE", "dispute", "--reason", "x").returncode == 2
    pool, _ = await open_database(stack.settings)
    try:
        rows = await pool.fetch(
            "SELECT action, detail FROM audit_log WHERE action LIKE 'flag.%' AND subject ="
            " (SELECT 'account:' || id FROM accounts WHERE account_ref = 'ACC-G1') ORDER BY id"
        )
        assert [(r["action"], r["detail"]["reason"]) for r in rows] == [
            ("flag.set", "debtor wrote in"),
            ("flag.lift", "verification sent"),
        ]
        assert await pool.fetchval("SELECT flags FROM accounts WHERE account_ref = 'ACC-G1'") == []
    finally:
        await pool.close()
