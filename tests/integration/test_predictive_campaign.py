"""The issue's real campaign: 50 simulated debtors through the real PBX and trunk, three simulated
agents, predictive mode. Every attempt reaches a final state, no number is dialled twice inside its
retry delay, abandons are counted and messaged, and the gate's verdict stands behind every call."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from dunline.controller.app import Controller
from dunline.controller.campaigns import run_stored
from dunline.dialer.campaign_spec import parse_spec
from dunline.dialer.lifecycle import FINAL
from dunline.store import campaigns as store

if TYPE_CHECKING:
    from conftest import Stack

from test_campaigns import seed

pytestmark = pytest.mark.integration

# 40 talk ~2 s once bridged, 4 talk 20 s, 2 hang up 1.5 s after answering, 2 busy, 2 voicemail
NUMBERS = (
    [f"+14155581{100 + i:03d}" for i in range(40)]
    + [f"+14155582{100 + i:03d}" for i in range(4)]
    + [f"+14155583{100 + i:03d}" for i in range(2)]
    + ["+14155550104", "+14155550104", "+14155550106", "+14155550106"]
)
AGENTS = ["+15550001001", "+15550001002", "+15550001003"]


async def test_predictive_campaign_50_debtors_3_agents(stack: Stack) -> None:
    assert len(NUMBERS) == 50
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        now = rt.dialer.clock()
        ids = await seed(
            rt.pool, "PRD", NUMBERS, tier="t_pred", due=now - timedelta(minutes=1), channel="agent_call"
        )
        spec = parse_spec({"name": "predictive", "mode": "predictive", "tiers": ["t_pred"], "wrap_up_s": 1})
        async with rt.pool.acquire() as conn:
            cid = await store.create(conn, spec.model_dump(mode="json"))
        summary = await run_stored(rt, cid, until_idle=True, agents=AGENTS, tick_s=0.25)
        assert summary.leader and summary.status == "finished" and summary.placed == 50

        attempts = await rt.pool.fetch(
            "SELECT a.id, a.account_id, a.state, a.kind, a.number_e164, a.created_at,"
            " (SELECT count(*) FROM verdicts v WHERE v.attempt_id = a.id AND v.allowed) AS verdicts,"
            " (SELECT detail FROM contact_ledger l WHERE l.attempt_id = a.id AND l.event = 'agent.call')"
            " AS agent_call FROM attempts a WHERE a.campaign_id = $1",
            cid,
        )
        # every attempt final, through the gate, as an agent call; one per account (no re-dial)
        assert len(attempts) == 50 and all(a["state"] in FINAL for a in attempts)
        assert all(a["verdicts"] == 1 and a["kind"] == "agent" for a in attempts)
        assert sorted(a["account_id"] for a in attempts) == sorted(ids)
        states = Counter(a["state"] for a in attempts)
        assert states["busy"] == 2 and states["voicemail"] == 2
        members = await rt.pool.fetch(
            "SELECT account_id, state, tries, next_try_at, last_result FROM campaign_members"
            " WHERE campaign_id = $1",
            cid,
        )
        first = {a["account_id"]: a["created_at"] for a in attempts}
        for m in members:
            assert m["tries"] == 1
            if m["state"] == "queued":  # a retry: never inside its delay
                rule = spec.retries[m["last_result"]]
                assert m["next_try_at"] >= first[m["account_id"]] + timedelta(seconds=rule.delay_s)
            else:
                assert m["state"] == "done" and m["last_result"] == "answered"

        # abandons: counted, messaged in time, and within the cap
        abandoned = [a for a in attempts if a["state"] == "abandoned"]
        for a in abandoned:
            detail = a["agent_call"]
            assert detail is not None and detail["abandoned"] is True
            assert detail["message_after_s"] <= 1.5  # + AMD's 0.8 s: within 2 s of the greeting
        abandons, live = await store.abandon_counts(rt.pool, cid, now - timedelta(hours=1))
        assert abandons == len(abandoned) and live >= 44
        assert abandons <= 0.03 * live
        bridged = [a for a in attempts if a["agent_call"] and a["agent_call"].get("agent")]
        assert len(bridged) >= 40  # the talkers reached an agent
        # agents are back, none stuck on a call
        views = rt.agents.board.snapshot(rt.dialer.clock())
        assert len(views) == 3 and all(v.state in ("ready", "wrap_up") for v in views)
