"""Mandarin debtors through the real PBX: the carrier simulator speaks with Kokoro debtor voices
(zf_xiaobei, zm_yunjian), the IVR speaks Mandarin prompts with zm_yunxi, the audio tap feeds Whisper
with `language=zh`, and the outcome lands in the database:
"是我" -> "我下周五还两千" -> "对" stores a promise of 2000 on next Friday; "你们打错了" marks the
number wrong with no debt detail played; "别再打了" sets cease."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from helpers_attempts import ivr_session, with_speech

from dunline.controller.app import Controller, run_campaign
from dunline.controller.clocks import next_weekday_at, starting_at
from dunline.ivr.kokoro import available
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not available(), reason="the Mandarin voice is not installed (make setup)"),
]
CSV = """external_id,account_ref,full_name,phone,phone_type,phone_consent,balance,principal,due_date,\
language,timezone,country,currency
Z-41,ACC-Z41,李明,+8613800138041,mobile,yes,3500.00,5000.00,2026-10-01,zh,Asia/Shanghai,CN,CNY
Z-42,ACC-Z42,王芳,+8613800138042,mobile,yes,1200.00,2000.00,2026-10-01,zh,Asia/Shanghai,CN,CNY
Z-43,ACC-Z43,张伟,+8613800138043,mobile,yes,800.00,800.00,2026-10-01,zh,Asia/Shanghai,CN,CNY
"""


async def test_mandarin_answers_through_the_pbx(stack: Stack, tmp_path: Path) -> None:
    csv = tmp_path / "zh.csv"
    csv.write_text(CSV, "utf-8")
    settings = with_speech(stack.settings)
    # Tuesday 10:00 in Shanghai: inside China's calling hours
    clock = starting_at(next_weekday_at(1, time(10, 0), "Asia/Shanghai"))
    async with Controller(settings, start_asterisk=False, clock=clock) as rt:
        await import_file(rt.pool, csv, upsert=True)
        numbers = ("+8613800138041", "+8613800138042", "+8613800138043")
        accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 in numbers]
        assert len(accounts) == 3
        results = {r.number: r for r in await run_campaign(rt, "zh speech", accounts)}

        promise = results["+8613800138041"]
        said = [(h["intent"], h["text"]) for h in (await ivr_session(rt.pool, promise.attempt_id))["heard"]]
        assert promise.outcome == "promise_to_pay", (promise, said)
        row = await rt.pool.fetchrow(
            "SELECT detail FROM outcomes WHERE attempt_id = $1", uuid.UUID(promise.attempt_id)
        )
        slots = row["detail"]["slots"]
        assert slots["amount"] == "2000.00", said
        promised = date.fromisoformat(slots["date"])
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the recogniser reads dates on the real clock
        assert promised.weekday() == 4 and timedelta(days=3) <= promised - today <= timedelta(days=13)
        played = (await ivr_session(rt.pool, promise.attempt_id))["played"]
        assert "promise_readback" in played and [i for i, _ in said] == ["affirm", "promise_to_pay", "affirm"]

        wrong = results["+8613800138042"]
        assert wrong.outcome == "wrong_number", wrong
        assert not {"mini_miranda", "balance"} & set((await ivr_session(rt.pool, wrong.attempt_id))["played"])
        assert await rt.pool.fetchval("SELECT wrong_number FROM phones WHERE number_e164 = '+8613800138042'")

        cease = results["+8613800138043"]
        assert cease.outcome == "cease", cease
        flags = await rt.pool.fetchval("SELECT flags FROM accounts WHERE account_ref = 'ACC-Z43'")
        assert "cease" in flags
