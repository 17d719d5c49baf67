"""Agent campaigns through the real PBX, trunk and carrier simulator: agents' phones (carrier `agent`
scenarios) wait in their bridges; answered debtors are bridged to them, or, with no agent free within
2 s, hear the safe-harbour message and count as abandoned. Assertions read ARI and the database."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dunline.ari_handlers.client import AriClient
from dunline.controller import wiring
from dunline.controller.app import Controller, Runtime, prepare_targets
from dunline.dialer.runner import AttemptSummary, DialTarget
from dunline.portfolio.report import import_file
from dunline.store import attempts as store
from dunline.store import contacts
from dunline.store.accounts import list_dialable

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration

HEADER = "external_id,account_ref,full_name,phone,phone_type,phone_consent,balance,principal,due_date,"
ACCOUNTS = (
    HEADER
    + """language,timezone,country
AG-1,ACC-AG1,Tara Talk,+14155581001,mobile,yes,110.00,110.00,2026-10-01,en,America/Los_Angeles,US
AG-2,ACC-AG2,Tom Talk,+14155581002,mobile,yes,120.00,120.00,2026-10-01,en,America/Los_Angeles,US
AG-3,ACC-AG3,Lena Long,+14155582001,mobile,yes,130.00,130.00,2026-10-01,en,America/Los_Angeles,US
AG-4,ACC-AG4,Lou Long,+14155582002,mobile,yes,140.00,140.00,2026-10-01,en,America/Los_Angeles,US
AG-5,ACC-AG5,Tia Talk,+14155581003,mobile,yes,150.00,150.00,2026-10-01,en,America/Los_Angeles,US
AG-6,ACC-AG6,Hal Hangup,+14155583001,mobile,yes,160.00,160.00,2026-10-01,en,America/Los_Angeles,US
"""
)
TALK_1, TALK_2, TALK_3 = "+14155581001", "+14155581002", "+14155581003"  # talk ~4 s once bridged
LONG_1, LONG_2 = "+14155582001", "+14155582002"  # stay 20 s: hear the whole message
HANGS_UP = "+14155583001"  # hangs up ~0.7 s after the PBX's AMD says human
TEMPLATE = "en.reminder.soft"
ABANDON_WITHIN_S = 2.5  # StasisStart -> safe-harbour playback started


async def _targets(rt: Runtime, csv: Path, numbers: Iterable[str]) -> dict[str, DialTarget]:
    await import_file(rt.pool, csv, upsert=True)
    wanted = set(numbers)
    accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 in wanted]
    targets = await prepare_targets(rt, accounts)
    assert {t.number for t in targets} == wanted
    return {t.number: dataclasses.replace(t, mode="agent") for t in targets}


async def _report(rt: Runtime, summary: AttemptSummary) -> dict[str, Any]:
    assert summary.attempt_id is not None, summary
    aid = uuid.UUID(summary.attempt_id)
    row = await store.attempt_report(rt.pool, aid)
    row["path"] = [t["to_state"] for t in row["transitions"]]
    row["agent_call"] = await rt.pool.fetchval(
        "SELECT detail FROM contact_ledger WHERE attempt_id = $1 AND event = 'agent.call'", aid
    )
    return row


async def _ours_left(ari: AriClient, attempts: Iterable[str]) -> tuple[list[str], list[str]]:
    """Our channels (agent legs, the attempts) and agent bridges still in Asterisk, after a moment for
    hang-ups already requested to complete."""
    ids = set(attempts)
    for _ in range(60):
        channels = [
            c["id"] for c in await ari.list_channels() if c["id"].startswith("agent-") or c["id"] in ids
        ]
        bridges = [b["id"] for b in await ari.list_bridges() if b["id"].startswith("agent-")]
        if not channels and not bridges:
            break
        await asyncio.sleep(0.05)
    return channels, bridges


def _abandoned(row: dict[str, Any]) -> None:
    """An answered human, no agent, the whole safe-harbour message heard within the time limit."""
    assert (row["state"], row["result"]) == ("abandoned", "abandoned"), row["path"]
    assert row["path"][-2:] == ["human", "abandoned"] and "bridged" not in row["path"]
    assert row["amd_status"] in ("HUMAN", "NOTSURE")
    call = row["agent_call"]
    assert call["agent"] is None and call["abandoned"] is True
    assert call["message_after_s"] is not None, "PlaybackStarted of the safe-harbour message not seen"
    assert call["waited_s"] <= call["message_after_s"] <= ABANDON_WITHIN_S
    assert call["message_finished"] is True  # PlaybackFinished: the debtor heard all of it
    assert row["hangup_cause"] == 16  # we hung up after the message


async def test_agents_take_calls_and_an_answer_with_all_agents_busy_is_abandoned(
    stack: Stack, tmp_path: Path
) -> None:
    csv = tmp_path / "agents.csv"
    csv.write_text(ACCOUNTS, "utf-8")
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        targets = await _targets(rt, csv, (TALK_1, TALK_2, LONG_1))
        agents = rt.agents
        agents.wrap_s = 1.5
        popped: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        agents.on_screen = popped.put_nowait  # the screen each agent gets once its debtor is on the line
        await agents.login("1001", "PJSIP/+15550001001@carrier")
        await agents.login("1002", "+15550001002")  # a bare number is dialled over the trunk
        bridges = {b["id"]: b for b in await rt.ari.list_bridges()}
        for agent in ("1001", "1002"):
            assert len(bridges[f"agent-{agent}"]["channels"]) == 1  # the agent waits on the line
            assert agents.board.state(agent) == "ready"

        cid = await store.create_campaign(rt.pool, "agents", mode="progressive")
        talks = [
            asyncio.create_task(rt.dialer.call(targets[n], cid, kind="agent", template=TEMPLATE))
            for n in (TALK_1, TALK_2)
        ]
        screens = [await asyncio.wait_for(popped.get(), 30) for _ in talks]
        # while they talk, each agent's bridge holds the agent and its debtor
        bridges = {b["id"]: b for b in await rt.ari.list_bridges()}
        assert sorted(s["agent"] for s in screens) == ["1001", "1002"]
        for screen in screens:
            assert set(bridges[f"agent-{screen['agent']}"]["channels"]) >= {screen["attempt"]}
            assert len(bridges[f"agent-{screen['agent']}"]["channels"]) == 2
            assert screen["script"] == TEMPLATE and screen["account"] in ("ACC-AG1", "ACC-AG2")

        # every agent busy: the next human who answers is abandoned
        late = asyncio.create_task(rt.dialer.call(targets[LONG_1], cid, kind="agent", template=TEMPLATE))
        talked = await asyncio.gather(*talks)
        for agent in ("1001", "1002"):
            await agents.until(agent, "ready", 10)  # after the wrap-up
        assert len(agents.board.wrap_samples) == 2 and min(agents.board.wrap_samples) >= 1.5
        assert len(agents.board.talk_samples) == 2 and min(agents.board.talk_samples) > 2.0
        assert [v.calls for v in agents.board.snapshot(rt.dialer.clock())] == [1, 1]
        for s in talked:
            row = await _report(rt, s)
            assert (row["state"], row["result"]) == ("completed", "answered"), row["path"]
            assert row["path"][-3:] == ["human", "bridged", "completed"]
            assert s.agent in ("1001", "1002") and row["kind"] == "agent" and row["template"] == TEMPLATE
            assert row["agent_call"]["agent"] == s.agent and row["agent_call"]["abandoned"] is False
        assert {s.agent for s in talked} == {"1001", "1002"}

        dropped = await late
        assert (dropped.state, dropped.result, dropped.agent) == ("abandoned", "abandoned", None)
        row = await _report(rt, dropped)
        _abandoned(row)
        after = row["agent_call"]["message_after_s"]
        print(f"\nabandon, all agents busy: message started {after} s after StasisStart")

        # the gate's history counts the abandoned call
        async with rt.pool.acquire() as conn:
            since = row["created_at"] - timedelta(hours=1)
            history = await contacts.call_history(conn, row["account_id"], since)
        assert [h["result"] for h in history] == ["abandoned"]

        for agent in ("1001", "1002"):
            await agents.logout(agent)
            assert agents.board.state(agent) == "offline"
        ids = [s.attempt_id or "" for s in (*talked, dropped)]
        assert await _ours_left(rt.ari, ids) == ([], [])


async def test_no_agent_logged_in_abandons_at_once_and_a_hangup_while_waiting_is_no_abandon(
    stack: Stack, tmp_path: Path
) -> None:
    csv = tmp_path / "agents.csv"
    csv.write_text(ACCOUNTS, "utf-8")
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        targets = await _targets(rt, csv, (LONG_2, TALK_3, HANGS_UP))
        agents = rt.agents
        agents.wrap_s = 0.5

        # nobody logged in: the message starts at once
        alone = await rt.dialer.call(targets[LONG_2], None)  # an agent-mode target is an agent call
        row = await _report(rt, alone)
        _abandoned(row)
        assert row["kind"] == "agent"
        assert row["agent_call"]["waited_s"] < 0.5
        print(f"\nabandon, no agent logged in: message started {row['agent_call']['message_after_s']} s")

        # one agent, busy; a debtor who hangs up while waiting for it is not abandoned, and no agent
        # is left on a call that never came
        await agents.login("1003", "PJSIP/+15550001003@carrier")
        talk = asyncio.create_task(rt.dialer.call(targets[TALK_3], None, kind="agent"))
        await agents.until("1003", "on_call", 30)
        gone = await rt.dialer.call(targets[HANGS_UP], None, kind="agent")
        row = await _report(rt, gone)
        assert (row["state"], row["result"], gone.agent) == ("completed", "answered", None), row["path"]
        assert "abandoned" not in row["path"] and "bridged" not in row["path"]
        assert row["agent_call"]["agent"] is None and row["agent_call"]["abandoned"] is False
        assert agents.board.state("1003") == "on_call"  # still with its own debtor
        talked = await talk
        assert (talked.state, talked.agent) == ("completed", "1003")
        await agents.until("1003", "ready", 10)
        assert [v.calls for v in agents.board.snapshot(rt.dialer.clock())] == [1]
        ids = [s.attempt_id or "" for s in (alone, gone, talked)]
    # the controller closed with the agent still logged in: its phone and bridge went with it
    async with AriClient(wiring.ari_settings(stack.settings)) as ari:
        assert await _ours_left(ari, ids) == ([], [])
