"""Spoken answers through the real PBX: the carrier simulator speaks (piper audio), the audio tap
(snoop + externalMedia RTP) feeds the endpointer and Whisper, and the outcome lands in the database."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers_attempts import ivr_session, with_speech

from dunline.controller.app import Controller, run_campaign
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

HEADER = "external_id,account_ref,full_name,phone,phone_type,phone_consent,balance,principal,due_date,"
CSV = (
    HEADER
    + """language,timezone,country
S-21,ACC-S21,Paula Promise,+14155550121,mobile,yes,900.00,900.00,2026-10-01,en,America/New_York,US
S-22,ACC-S22,Cesar Cease,+14155550122,mobile,yes,300.00,300.00,2026-10-01,en,America/New_York,US
S-23,ACC-S23,Hattie Hardship,+14155550123,mobile,yes,450.00,450.00,2026-10-01,en,America/New_York,US
"""
)


async def test_spoken_promise_is_read_back_confirmed_and_stored(stack: Stack, tmp_path: Path) -> None:
    csv = tmp_path / "speech.csv"
    csv.write_text(CSV, "utf-8")
    settings = with_speech(stack.settings)
    async with Controller(settings, start_asterisk=False, clock=stack.clock) as rt:
        await import_file(rt.pool, csv, upsert=True)
        accounts = [
            a
            for a in await list_dialable(rt.pool, 1000)
            if a.phone_e164 in ("+14155550121", "+14155550122", "+14155550123")
        ]
        results = {r.number: r for r in await run_campaign(rt, "speech", accounts)}

        promise = results["+14155550121"]
        assert promise.outcome == "promise_to_pay", promise
        row = await rt.pool.fetchrow(
            "SELECT detail FROM outcomes WHERE attempt_id = $1", uuid.UUID(promise.attempt_id)
        )
        detail = row["detail"]
        assert detail["by"].startswith("speech:")
        assert detail["slots"]["amount"] == "200.00"
        promised = date.fromisoformat(detail["slots"]["date"])
        assert promised.weekday() == 4 and timedelta(0) < promised - date.today() <= timedelta(days=14)
        session = await ivr_session(rt.pool, promise.attempt_id)
        assert session["verified"] is True
        assert "promise_readback" in session["played"]
        # each answer is kept with the call: the words heard and the intent taken from them
        said = [(h["intent"], h["text"].lower()) for h in session["heard"]]
        assert [i for i, _ in said] == ["affirm", "promise_to_pay", "affirm"], said
        assert "two hundred" in said[1][1] or "200" in said[1][1]
        # "Yes, that's me." is a finished yes: taken at its first pause, not after the 500 ms silence
        assert session["heard"][0]["early"] is True, session["heard"]

        cease = results["+14155550122"]
        assert cease.outcome == "cease"
        flags = await rt.pool.fetchval("SELECT flags FROM accounts WHERE account_ref = 'ACC-S22'")
        assert "cease" in flags
        session = await ivr_session(rt.pool, cease.attempt_id)
        assert not {"mini_miranda", "balance"} & set(session["played"])
        # "The house flooded and every penny is going to repairs.": no phrase of the lexicon, so the
        # nearest labelled example decided (the second opinion), and the hardship flag is set
        hardship = results["+14155550123"]
        assert hardship.outcome == "hardship", hardship
        row = await rt.pool.fetchrow(
            "SELECT detail FROM outcomes WHERE attempt_id = $1", uuid.UUID(hardship.attempt_id)
        )
        assert row["detail"]["by"].startswith("speech:en:hardship:like("), row["detail"]
        flags = await rt.pool.fetchval("SELECT flags FROM accounts WHERE account_ref = 'ACC-S23'")
        assert "hardship" in flags
        # every tap channel and port was released
        channels = {c["id"] for c in await rt.ari.list_channels()}
        assert not any(c.endswith(("-snoop", "-xm")) for c in channels)


DOUBT_CSV = (
    HEADER
    + """language,timezone,country
S-24,ACC-S24,Quinn Quit,+14155550124,mobile,yes,300.00,300.00,2026-10-01,en,America/New_York,US
S-25,ACC-S25,Nora No,+14155550125,mobile,yes,300.00,300.00,2026-10-01,en,America/New_York,US
"""
)


async def test_a_stop_calling_guessed_from_examples_is_asked_about_first(
    stack: Stack, tmp_path: Path
) -> None:
    """ "Quit ringing me, I mean it." has no phrase of the lexicon that decides it: the labelled examples
    say cease, which makes the answer doubtful. The IVR asks ("do you want us to stop calling you?"):
    "Yes." sets the flag; "No." goes back to the identity question and sets nothing."""
    csv = tmp_path / "doubt.csv"
    csv.write_text(DOUBT_CSV, "utf-8")
    settings = with_speech(stack.settings)
    async with Controller(settings, start_asterisk=False, clock=stack.clock) as rt:
        await import_file(rt.pool, csv, upsert=True)
        numbers = ("+14155550124", "+14155550125")
        accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 in numbers]
        results = {r.number: r for r in await run_campaign(rt, "doubt", accounts)}

        yes = results["+14155550124"]
        said = (await ivr_session(rt.pool, yes.attempt_id))["heard"]
        assert [h["intent"] for h in said] == ["cease", "affirm"], said
        assert said[0]["doubtful"] is True
        assert yes.outcome == "cease", yes
        assert "check_cease" in (await ivr_session(rt.pool, yes.attempt_id))["played"]
        row = await rt.pool.fetchrow(
            "SELECT detail FROM outcomes WHERE attempt_id = $1", uuid.UUID(yes.attempt_id)
        )
        assert (
            row["detail"]["by"].startswith("speech:en:cease:like(") and "(confirmed)" in row["detail"]["by"]
        )
        assert "cease" in await rt.pool.fetchval("SELECT flags FROM accounts WHERE account_ref = 'ACC-S24'")

        no = results["+14155550125"]
        played = (await ivr_session(rt.pool, no.attempt_id))["played"]
        assert played.count("check_cease") == 1 and played.index("check_cease") < len(played) - 1, played
        assert played[played.index("check_cease") + 1] == "rpc_question_speech"  # back to the question
        assert no.outcome != "cease"
        assert "cease" not in await rt.pool.fetchval(
            "SELECT flags FROM accounts WHERE account_ref = 'ACC-S25'"
        )
