"""Campaigns against the real database and PBX: selection from stored plans, claims that two
controllers share, the retry schedule, pause/resume, and a restart that re-dials nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from dunline.controller.app import Controller, open_database
from dunline.controller.campaigns import runner_for
from dunline.dialer.campaign import CampaignRunner
from dunline.dialer.campaign_spec import parse_spec
from dunline.dialer.runner import AttemptSummary, DialTarget
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store import campaigns as store
from dunline.store.accounts import import_portfolio
from dunline.store.profiles import store_plans

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration


def documents(prefix: str, numbers: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}-{i}",
            "contact": {
                "country": "US",
                "region": "CA",
                "timezone": "America/Los_Angeles",
                "phones": [{"number": n, "type": "mobile", "consent": True}],
            },
            "identity": {"name": f"Debtor {i}"},
            "loan": {"principal": "250.00", "due_date": "2026-10-01"},
        }
        for i, n in enumerate(numbers)
    ]


async def seed(
    pool: asyncpg.Pool,
    prefix: str,
    numbers: list[str],
    *,
    tier: str,
    due: datetime,
    channel: str = "ivr_call",
) -> list[int]:
    """Import the accounts and give each a stored plan whose next step (`channel`) is due at `due`."""
    parsed = parse_accounts_json(json.dumps(documents(prefix, numbers)))
    assert parsed.ok, parsed.errors
    await import_portfolio(pool, parsed.rows, upsert=True)
    ids = [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM accounts WHERE account_ref LIKE $1 ORDER BY id", f"{prefix}-%"
        )
    ]
    plan = {
        "score": 550,
        "tier": tier,
        "variant": "champion",
        "stage": "mid",
        "reasons": [],
        "steps": [{"at": due.isoformat(), "channel": channel, "template": "negotiation_call", "reason": "t"}],
    }
    async with pool.acquire() as conn:
        await store_plans(conn, [(i, plan) for i in ids], due)
    return ids


async def test_selection_claims_and_recovery_in_the_database(stack: Stack) -> None:
    now = stack.clock()
    pool, _ = await open_database(stack.settings)
    try:
        due = await seed(pool, "CMS", [f"+1415556{1000 + i:04d}" for i in range(20)], tier="t_store", due=now)
        later = await seed(pool, "CML", ["+14155561100"], tier="t_store", due=now + timedelta(days=1))
        sms = await seed(pool, "CMX", ["+14155561200"], tier="t_store", due=now, channel="sms")
        spec = parse_spec({"name": "store test", "tiers": ["t_store"]})
        async with pool.acquire() as conn:
            cid = await store.create(conn, spec.model_dump(mode="json"))
            added = await store.add_due(
                conn, cid, tiers=["t_store"], stages=spec.stages, channel="ivr_call", now=now
            )
            assert added == 20  # not the one due tomorrow, not the SMS step
            assert (
                await store.add_due(conn, cid, tiers=["t_store"], stages=["mid"], channel="ivr_call", now=now)
                == 0
            )
            members = {r["account_id"] for r in await conn.fetch(
                "SELECT account_id FROM campaign_members WHERE campaign_id = $1", cid)}  # fmt: skip
            assert members == set(due) and not members & set(later + sms)

        # two controllers claim at once: each account once, nobody waits for the other's locks
        async def claim(node: str) -> list[store.Member]:
            async with pool.acquire() as conn, conn.transaction():
                got = await store.claim(conn, cid, 15, node=node, now=now)
                await asyncio.sleep(0.3)  # hold the row locks while the other one claims
                return got

        a, b = await asyncio.gather(claim("node-a"), claim("node-b"))
        ids_a, ids_b = {m.account_id for m in a}, {m.account_id for m in b}
        assert not ids_a & ids_b and ids_a | ids_b == set(due) and len(a) + len(b) == 20

        async with pool.acquire() as conn:
            await store.settle(
                conn, a[0], result="busy", counted=True, next_try_at=now + timedelta(minutes=15)
            )
            await store.settle(conn, a[1], result="answered", counted=True, next_try_at=None)
            counts = await store.pending(conn, cid, now)
            assert counts == {"queued": 1, "due": 0, "claimed": 18, "done": 1}
            # node-b died holding its claims: the leader requeues those never dialled (no attempt)
            await conn.execute(
                "UPDATE campaign_members SET claimed_at = $2"
                " WHERE campaign_id = $1 AND claimed_by = 'node-b'",
                cid,
                now - timedelta(hours=1),
            )
            stale = await store.stale_claims(conn, cid, now - timedelta(minutes=20), but_not="node-a")
            assert {m.account_id for m in stale} == ids_b
            for m in stale:
                assert await store.attempt_since(conn, m) is None
                await store.settle(conn, m, result="requeued", counted=False, next_try_at=m.next_try_at)
            counts = await store.pending(conn, cid, now)
            assert counts["due"] == len(ids_b) and counts["claimed"] == len(a) - 2
            assert await store.move(conn, cid, "start") == "running"
            with pytest.raises(store.CampaignError, match="is running; cannot resume"):
                await store.move(conn, cid, "resume")
    finally:
        await pool.close()


async def test_a_callback_booked_for_one_agent_waits_for_that_agent(stack: Stack) -> None:
    """Only its agent claims an own callback (once due) until it has been due for OWN_GRACE; then
    anyone's claim takes it. A placed try ends the ownership; a blocked one keeps it."""
    now = stack.clock()
    pool, _ = await open_database(stack.settings)
    try:
        (acc,) = await seed(pool, "OWN", ["+14155561300"], tier="t_own", due=now)
        (other,) = await seed(pool, "OWO", ["+14155561301"], tier="t_own", due=now)
        spec = parse_spec({"name": "own callbacks", "mode": "preview", "tiers": ["t_own"]})
        async with pool.acquire() as conn:
            cid = await store.create(conn, spec.model_dump(mode="json"))
            await store.move(conn, cid, "start")
            await store.add_due(conn, cid, tiers=["t_own"], stages=spec.stages, channel="ivr_call", now=now)
            later = now + timedelta(minutes=30)
            await conn.execute(
                "UPDATE campaign_members SET agent = 'ann', next_try_at = $3 WHERE campaign_id = $1"
                " AND account_id = $2",
                cid,
                acc,
                later,
            )
            assert [c["account_id"] for c in await store.own_callbacks(conn, "ann")] == [acc]
            assert await store.own_callbacks(conn, "bob") == []
            # not due yet: not even ann; bob never; the campaign's claim takes only the other account
            assert await store.claim_own(conn, cid, acc, agent="ann", node="n", now=now) is None
            at_due = later + timedelta(minutes=1)
            assert await store.claim_own(conn, cid, acc, agent="bob", node="n", now=at_due) is None
            got = await store.claim(conn, cid, 10, node="n", now=at_due)
            assert [m.account_id for m in got] == [other]
            # ann dials it; the gate blocks: the callback stays hers
            mine = await store.claim_own(conn, cid, acc, agent="ann", node="n", now=at_due)
            assert mine is not None and mine.agent == "ann"
            await store.settle(conn, mine, result="blocked", counted=False, next_try_at=at_due)
            assert (
                await conn.fetchval(
                    "SELECT agent FROM campaign_members WHERE campaign_id = $1 AND account_id = $2", cid, acc
                )
                == "ann"
            )
            # left undialled past the grace: anyone's claim takes it
            grace = at_due + store.OWN_GRACE + timedelta(seconds=1)
            got = await store.claim(conn, cid, 10, node="n", now=grace)
            assert [m.account_id for m in got] == [acc]
            await store.settle(conn, got[0], result="no_answer", counted=True, next_try_at=grace)
            assert (
                await conn.fetchval(
                    "SELECT agent FROM campaign_members WHERE campaign_id = $1 AND account_id = $2", cid, acc
                )
                is None
            )  # tried: later tries go to anyone
            await store.move(conn, cid, "stop")
    finally:
        await pool.close()


NUMBERS = [
    "+14155550101",  # answers, promises
    "+14155550104",  # busy
    "+14155550106",  # voicemail
    "+14155550107",  # congestion
    "+14155560011",  # answers, hangs up after 3 s
    "+14155560012",
    "+14155560013",
    "+14155560014",
]


async def test_agentless_campaign_dials_each_once_retries_later_and_survives_a_restart(stack: Stack) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        now = rt.dialer.clock()
        ids = await seed(rt.pool, "CMR", NUMBERS, tier="t_run", due=now - timedelta(minutes=1))
        spec = parse_spec({"name": "agentless", "tiers": ["t_run"], "max_concurrent": 4})
        async with rt.pool.acquire() as conn:
            cid = await store.create(conn, spec.model_dump(mode="json"))
            await store.move(conn, cid, "start")
        runner = runner_for(rt, cid, spec, tick_s=0.2)
        task = asyncio.create_task(runner.run(until_idle=True))
        try:
            # pause as soon as the first calls are claimed: the calls already claimed finish, and
            # nothing new is dialled while paused
            for _ in range(400):
                counts = await store.pending(rt.pool, cid, rt.dialer.clock())
                if counts["claimed"]:
                    break
                await asyncio.sleep(0.05)
            async with rt.pool.acquire() as conn:
                await store.move(conn, cid, "pause")
            for _ in range(1200):  # the claimed calls end (prompts may be rendered first: slow once)
                counts = await store.pending(rt.pool, cid, rt.dialer.clock())
                if not counts["claimed"]:
                    break
                await asyncio.sleep(0.1)
            frozen = await rt.pool.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1", cid)
            assert 1 <= frozen <= 4  # max_concurrent
            await asyncio.sleep(2.0)
            assert (
                await rt.pool.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1", cid) == frozen
            )
            assert (await store.pending(rt.pool, cid, rt.dialer.clock()))["due"] > 0
            async with rt.pool.acquire() as conn:
                await store.move(conn, cid, "resume")
            summary = await asyncio.wait_for(task, 240)
        finally:
            if not task.done():  # a failed assertion must not leave the runner holding connections
                async with rt.pool.acquire() as conn:
                    await store.move(conn, cid, "stop")
                await asyncio.wait_for(task, 60)
        assert summary.leader and summary.placed == len(NUMBERS) and summary.status == "finished"

        rows = await rt.pool.fetch(
            "SELECT a.account_id, a.state, a.template, a.created_at, m.state AS member, m.tries,"
            " m.next_try_at, m.last_result,"
            " (SELECT count(*) FROM verdicts v WHERE v.attempt_id = a.id) AS verdicts"
            " FROM attempts a JOIN campaign_members m ON m.campaign_id = a.campaign_id"
            " AND m.account_id = a.account_id WHERE a.campaign_id = $1",
            cid,
        )
        assert sorted(r["account_id"] for r in rows) == sorted(ids)  # each account dialled exactly once
        assert all(r["verdicts"] == 1 and r["template"] == "negotiation_call" for r in rows)  # via the gate
        by_result = {r["last_result"]: r for r in rows}
        busy = by_result["busy"]
        assert busy["member"] == "queued" and busy["tries"] == 1
        assert busy["next_try_at"] >= busy["created_at"] + timedelta(minutes=15)  # not inside its delay
        assert by_result["voicemail"]["next_try_at"] >= by_result["voicemail"]["created_at"] + timedelta(
            days=1
        )
        assert by_result["failed"]["member"] == "queued"  # congestion: retried later
        answered = [r for r in rows if r["last_result"] == "answered"]
        assert len(answered) == 5 and all(r["member"] == "done" for r in answered)

        # a restart: a new runner (a new controller process would do the same) re-dials nothing
        async with rt.pool.acquire() as conn:
            await store.move(conn, cid, "start") if await store.status(conn, cid) != "running" else None
        again = await runner_for(rt, cid, spec, tick_s=0.2).run(until_idle=True)
        assert again.placed == 0
        assert await rt.pool.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1", cid) == len(
            NUMBERS
        )


def test_campaign_command_line(stack: Stack, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("mode: predictive\nabandon_target: 0.05\nretries: {busy: {delay_s: 5, max_tries: 2}}\n")
    proc = stack.cli("campaign", "create", "too greedy", "--spec", str(bad))
    assert proc.returncode == 2 and "abandon_target" in proc.stderr and "retries.busy.delay_s" in proc.stderr
    proc = stack.cli("campaign", "create", "cli", "--mode", "ivr", "--tiers", "t_cli", "--json")
    assert proc.returncode == 0, proc.stderr
    cid = json.loads(proc.stdout)["campaign"]
    proc = stack.cli("campaign", "pause", str(cid))
    assert proc.returncode == 2 and "is created; cannot pause" in proc.stderr
    assert stack.cli("campaign", "start", str(cid)).returncode == 0
    assert stack.cli("campaign", "pause", str(cid)).returncode == 0
    status = json.loads(stack.cli("campaign", "status", str(cid), "--json").stdout)
    assert status["status"] == "paused" and status["mode"] == "ivr" and status["abandon_rate_30d"] is None
    assert stack.cli("campaign", "status", "999999").returncode == 2


class FakeDialer:
    """Stands in for the PBX: answers each call with the next scripted result (the runner's own logic
    and the database are real)."""

    def __init__(self, results: list[AttemptSummary]) -> None:
        self.results = results
        self.calls: list[tuple[str, Any, str | None]] = []

    async def call(
        self, target: DialTarget, campaign_id: int | None, *, kind: Any = None, template: str | None = None
    ) -> AttemptSummary:
        self.calls.append((target.account_ref, kind, template))
        return self.results.pop(0)


async def test_preview_mode_and_gate_blocks_with_the_real_database(stack: Stack) -> None:
    now = stack.clock()
    pool, _ = await open_database(stack.settings)
    try:
        numbers = ["+14155561300", "+14155561301", "+14155561302"]
        ids = await seed(pool, "CMP", numbers, tier="t_prev", due=now, channel="agent_call")
        spec = parse_spec({"name": "preview", "mode": "preview", "tiers": ["t_prev"]})
        async with pool.acquire() as conn:
            cid = await store.create(conn, spec.model_dump(mode="json"))
            await store.add_due(
                conn, cid, tiers=["t_prev"], stages=spec.stages, channel="agent_call", now=now
            )
        later = now + timedelta(hours=5)
        fake = FakeDialer(
            [
                AttemptSummary(str(uuid.uuid4()), "CMP-0", "+14155561300", "busy", "busy", None, 17, None),
                AttemptSummary(None, "CMP-1", "+14155561301", "blocked", "blocked", None, None, None,
                               ("window",), later),
            ]
        )  # fmt: skip

        async def target_for(account_id: int, template: str | None) -> DialTarget:
            return DialTarget(account_id, f"acc-{account_id}", 1, "+14155561300", {}, mode="agent")

        runner = CampaignRunner(pool, fake, cid, spec, target_for, clock=lambda: now)
        assert await runner.how_many() == 0  # preview dials only when an agent starts a call
        first = await runner.preview_next()
        assert first is not None and first.account_id == ids[0]
        await runner.preview_skip(first)  # the agent passes: back in the queue, not a try
        again = await runner.preview_next()
        assert again is not None and again.account_id == ids[0]
        await runner.preview_call(again)
        blocked = await runner.preview_next()
        assert blocked is not None and blocked.account_id == ids[1]
        await runner.preview_call(blocked)
        assert [c[1] for c in fake.calls] == ["agent", "agent"]
        assert all(c[2] == "negotiation_call" for c in fake.calls)
        rows = {
            r["account_id"]: r
            for r in await pool.fetch(
                "SELECT account_id, state, tries, next_try_at, last_result FROM campaign_members"
                " WHERE campaign_id = $1",
                cid,
            )
        }
        busy, gate = rows[ids[0]], rows[ids[1]]
        assert (busy["state"], busy["tries"], busy["last_result"]) == ("queued", 1, "busy")
        assert busy["next_try_at"] == now + timedelta(seconds=spec.retries["busy"].delay_s)
        # the gate said not before `later`: queued for then, and a blocked call is not a try
        assert (gate["state"], gate["tries"], gate["next_try_at"]) == ("queued", 0, later)
        assert rows[ids[2]]["state"] == "queued" and rows[ids[2]]["tries"] == 0
    finally:
        await pool.close()
