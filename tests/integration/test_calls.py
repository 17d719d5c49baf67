"""Calls through the real PBX, trunk and carrier simulator; every assertion reads the database."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers_attempts import with_speech

from dunline.controller.app import Controller, run_campaign
from dunline.controller.demo import DEMO_NUMBERS, sample_portfolio
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable
from dunline.store.attempts import attempt_report

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

HEADER = "external_id,account_ref,full_name,phone,phone_type,phone_consent,balance,principal,due_date,"
EXTRA = (
    HEADER
    + """language,timezone,country
T-7,ACC-T7,Carl Congested,+14155550107,mobile,yes,100.00,100.00,2026-10-01,en,America/Los_Angeles,US
T-8,ACC-T8,Wanda Wrong,+14155550108,mobile,yes,200.00,200.00,2026-10-01,en,America/Los_Angeles,US
T-9,ACC-T9,Steve Stop,+14155550109,mobile,yes,300.00,300.00,2026-10-01,en,America/Los_Angeles,US
T-10,ACC-T10,Sam Silent,+14155550110,mobile,yes,400.00,400.00,2026-10-01,en,America/Los_Angeles,US
T-11,ACC-T11,Vera Voice,+14155550111,mobile,yes,500.00,500.00,2026-10-01,en,America/Los_Angeles,US
"""
)

DISCLOSING = {"mini_miranda", "balance", "menu", "menu_reprompt"}


async def _dial(stack: Stack, numbers: tuple[str, ...], csv: Path | None = None) -> dict[str, dict[str, Any]]:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        await import_file(rt.pool, csv or sample_portfolio(), upsert=True)
        accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 in numbers]
        assert len(accounts) == len(numbers)
        results = await run_campaign(rt, "integration", accounts)
        out: dict[str, dict[str, Any]] = {}
        for r in results:
            aid = uuid.UUID(r.attempt_id)
            row = await attempt_report(rt.pool, aid)  # the attempt row, its transitions and outcomes
            row["path"] = [t["to_state"] for t in row["transitions"]]
            row["flags"] = await rt.pool.fetchval(
                "SELECT flags FROM accounts WHERE id = $1", row["account_id"]
            )
            session = await rt.pool.fetchrow(
                "SELECT detail FROM contact_ledger WHERE attempt_id = $1 AND event = 'ivr.session'", aid
            )
            row["ivr"] = session["detail"] if session else None
            row["summary"] = r
            out[r.number] = row
        return out


async def test_demo_scenario_states_causes_and_outcomes(stack: Stack) -> None:
    calls = await _dial(stack, DEMO_NUMBERS)
    answered_path = ["created", "dialing", "answered", "human", "in_ivr", "completed"]
    for number, outcome, flag in (
        ("+14155550101", "promise_to_pay", None),
        ("+14155550102", "payment_plan", None),
        ("+14155550103", "dispute", "dispute"),
    ):
        c = calls[number]
        assert c["state"] == "completed" and c["result"] == "answered", c
        assert c["path"] == answered_path
        assert c["hangup_cause"] == 16  # normal clearing: the IVR hung up after the goodbye
        assert c["amd_status"] in ("HUMAN", "NOTSURE")
        assert c["outcomes"] == [outcome]
        assert (flag in c["flags"]) if flag else not c["flags"]
        assert c["ivr"]["verified"] is True
        assert c["ivr"]["played"][:2] == ["recording_notice", "rpc_question"]
        assert c["channel_id"] == str(c["id"]) and c["ended_at"] is not None

    busy = calls["+14155550104"]
    assert (busy["state"], busy["hangup_cause"]) == ("busy", 17)
    assert busy["path"] == ["created", "dialing", "busy"] and busy["outcomes"] == []

    noans = calls["+14155550105"]
    assert (noans["state"], noans["result"]) == ("no_answer", "no_answer")
    assert noans["path"][-1] == "no_answer" and noans["hangup_cause"] in (19, None)
    assert noans["originate_reason"] == 3

    vm = calls["+14155550106"]
    assert (vm["state"], vm["result"], vm["amd_status"]) == ("voicemail", "voicemail", "MACHINE")
    assert vm["path"] == ["created", "dialing", "answered", "machine", "voicemail"]
    assert vm["outcomes"] == [] and vm["ivr"] is None


async def test_wrong_party_hears_no_debt_detail_and_silence_ends_politely(
    stack: Stack, tmp_path: Path
) -> None:
    csv = tmp_path / "extra.csv"
    csv.write_text(EXTRA, "utf-8")
    numbers = ("+14155550107", "+14155550108", "+14155550109", "+14155550110", "+14155550111")
    calls = await _dial(stack, numbers, csv)

    wrong = calls["+14155550108"]
    assert wrong["outcomes"] == ["wrong_party"] and wrong["state"] == "completed"
    assert wrong["ivr"]["verified"] is False
    assert not DISCLOSING & set(wrong["ivr"]["played"]), wrong["ivr"]["played"]

    stop = calls["+14155550109"]
    assert stop["outcomes"] == ["cease"] and "cease" in stop["flags"]

    silent = calls["+14155550110"]
    assert silent["outcomes"] == ["no_input"] and silent["ivr"]["verified"] is False
    assert silent["ivr"]["played"].count("rpc_reprompt") == 1  # max_retries=1 in the test config
    assert not DISCLOSING & set(silent["ivr"]["played"])

    # a spoken answer is not a key press: the keypad-only flow never treats it as verification
    voice = calls["+14155550111"]
    assert voice["outcomes"] == ["no_input"] and voice["ivr"]["verified"] is False
    assert voice["amd_status"] in ("HUMAN", "NOTSURE")

    cong = calls["+14155550107"]
    assert (cong["state"], cong["result"], cong["hangup_cause"]) == ("congestion", "failed", 34)


async def test_a_call_that_never_ends_is_hung_up_and_failed(stack: Stack, tmp_path: Path) -> None:
    csv = tmp_path / "extra.csv"
    csv.write_text(EXTRA, "utf-8")
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        await import_file(rt.pool, csv, upsert=True)
        rt.dialer.max_call_s = 4.0  # the silent debtor's IVR needs ~15 s: the guard fires first
        accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 == "+14155550110"]
        (result,) = await run_campaign(rt, "guard", accounts)
        assert (result.state, result.result) == ("failed", "failed")
        row = await rt.pool.fetchrow(
            "SELECT state, ended_at FROM attempts WHERE id = $1", uuid.UUID(result.attempt_id)
        )
        assert row["state"] == "failed" and row["ended_at"] is not None
        detail = await rt.pool.fetchval(
            "SELECT detail FROM attempt_transitions WHERE attempt_id = $1 AND to_state = 'failed'",
            uuid.UUID(result.attempt_id),
        )
        assert detail["error"] == "max call duration exceeded"
        for _ in range(40):  # the hangup was requested; the channel goes within moments
            if result.attempt_id not in {c["id"] for c in await rt.ari.list_channels()}:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the channel is still up after the guard hung it up")


async def test_demo_voice_debtors_are_heard_and_understood(stack: Stack) -> None:
    """The demo's two voice debtors (English and Mandarin) through the PBX with speech on: each promise
    is read back, confirmed and stored, and the demo's second table has what each said."""
    from dunline.controller.clocks import earliest_lawful, starting_at
    from dunline.controller.demo import VOICE_NUMBERS, heard_in

    settings = with_speech(stack.settings)
    async with Controller(settings, start_asterisk=False, clock=stack.clock) as rt:
        await import_file(rt.pool, sample_portfolio(), upsert=True)
        accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 in VOICE_NUMBERS]
        assert len(accounts) == 2
        # California and Shanghai: the demo starts at the earliest time the gate allows both
        start = await earliest_lawful(
            rt.pool,
            accounts,
            kind=rt.dialer.kind,
            caller_id=settings.trunk.caller_id,
            after=rt.dialer.clock(),
        )
        rt.dialer.clock = starting_at(start)
        results = await run_campaign(rt, "demo voices", accounts)
        heard = await heard_in(rt.pool, [r.attempt_id for r in results])
    for r in results:
        said = heard[r.attempt_id or ""]
        assert r.outcome == "promise_to_pay", (r, said)
        assert [h["intent"] for h in said] == ["affirm", "promise_to_pay", "affirm"], said
    texts = {r.number: " ".join(h["text"] for h in heard[r.attempt_id or ""]) for r in results}
    assert "300" in texts["+14155550113"] and "三千" in texts["+8613800138001"]
