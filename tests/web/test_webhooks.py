"""Outbound webhooks against real PostgreSQL and a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from web_stack import Console

from dunline.store import webhooks
from dunline.store.attempts import record_outcome
from dunline.web import hook_sender, hooks

SECRET = "test-secret-0123456789"


@dataclass
class Receiver:
    url: str
    got: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver("")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        rec.got.append({"headers": dict(request.headers), "body": body})
        if rec.fail_next:
            rec.fail_next -= 1
            return web.Response(status=503)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


async def an_attempt(console: Console) -> uuid.UUID:
    row = await console.pool.fetchrow(
        "SELECT a.id AS account, p.id AS phone, p.number_e164 FROM accounts a"
        " JOIN phones p ON p.debtor_id = a.debtor_id WHERE a.account_ref = 'ACC-1002'"
    )
    assert row is not None
    aid = uuid.uuid4()
    await console.pool.execute(
        "INSERT INTO attempts (id, account_id, phone_id, number_e164, state)"
        " VALUES ($1, $2, $3, $4, 'in_ivr')",
        aid,
        row["account"],
        row["phone"],
        row["number_e164"],
    )
    return aid


async def rounds(console: Console, n: int = 1) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            await hook_sender.round_once(console.pool, session, console.clock)


async def test_outcomes_are_delivered_signed_once(console: Console, receiver: Receiver) -> None:
    await webhooks.add(
        console.pool, "crm", receiver.url, SECRET, ["outcome", "promise", "opt_out"], actor="test"
    )
    attempt = await an_attempt(console)
    slots = {"date": "2026-12-18", "amount": "200.00", "time": None}
    await record_outcome(console.pool, attempt, "promise_to_pay", {"slots": slots, "by": "speech"}, None)
    await record_outcome(console.pool, attempt, "cease", {"slots": {}, "by": "speech"}, "cease")
    await rounds(console, 2)
    events = sorted(json.loads(g["body"])["event"] for g in receiver.got)
    assert events == ["opt_out", "outcome", "outcome", "promise"]
    for g in receiver.got:
        h = g["headers"]
        assert hooks.verify(SECRET, int(h["X-Dunline-Timestamp"]), g["body"], h["X-Dunline-Signature"])
        data = json.loads(g["body"])["data"]
        assert data["account"] == "ACC-1002"
        assert "+1" not in g["body"].decode()  # no phone number leaves in a webhook
    promise = next(
        json.loads(g["body"]) for g in receiver.got if g["headers"]["X-Dunline-Event"] == "promise"
    )
    assert promise["data"]["due"] == "2026-12-18" and promise["data"]["amount"] == "200.00"
    await rounds(console, 2)
    assert len(receiver.got) == 4  # delivered ones are never sent again
    states = await console.pool.fetch("SELECT state, tries FROM webhook_deliveries")
    assert {(r["state"], r["tries"]) for r in states} == {("delivered", 1)}


async def test_a_failing_receiver_gets_retries_with_backoff(console: Console, receiver: Receiver) -> None:
    await webhooks.add(console.pool, "crm", receiver.url, SECRET, ["outcome"], actor="test")
    receiver.fail_next = 2
    await record_outcome(console.pool, await an_attempt(console), "dispute", {"slots": {}}, "dispute")
    await rounds(console)
    row = await console.pool.fetchrow("SELECT state, tries, next_try_at FROM webhook_deliveries")
    assert row is not None and row["state"] == "pending" and row["tries"] == 1
    assert row["next_try_at"] == console.clock() + timedelta(seconds=hooks.retry_after(1) or 0)
    await rounds(console)
    assert len(receiver.got) == 1  # not due yet
    console.clock.advance(seconds=11)
    await rounds(console)
    console.clock.advance(seconds=31)
    await rounds(console)
    assert len(receiver.got) == 3
    tries = await console.pool.fetch("SELECT try, status FROM webhook_tries ORDER BY try")
    assert [(t["try"], t["status"]) for t in tries] == [(1, 503), (2, 503), (3, 204)]
    assert await console.pool.fetchval("SELECT state FROM webhook_deliveries") == "delivered"


async def test_unreachable_receiver_is_recorded_and_eventually_failed(console: Console) -> None:
    await webhooks.add(console.pool, "gone", "http://127.0.0.1:9/none", SECRET, ["outcome"], actor="test")
    await record_outcome(console.pool, await an_attempt(console), "refuse", {"slots": {}}, None)
    for _ in range(hooks.MAX_TRIES):
        await rounds(console)
        console.clock.advance(hours=5)
    row = await console.pool.fetchrow("SELECT state, tries FROM webhook_deliveries")
    assert row is not None and (row["state"], row["tries"]) == ("failed", hooks.MAX_TRIES)
    errors = await console.pool.fetch("SELECT status, error FROM webhook_tries")
    assert len(errors) == hooks.MAX_TRIES and all(e["status"] is None and e["error"] for e in errors)


async def test_a_rolled_back_change_reports_nothing(console: Console) -> None:
    with pytest.raises(KeyError):
        await record_outcome(console.pool, uuid.uuid4(), "promise_to_pay", {"slots": {}}, None)
    async with console.pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await webhooks.emit(conn, "outcome", {"account": "X"})
                raise RuntimeError("the change failed")
    assert await console.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_payment_due_once_per_promise(console: Console, receiver: Receiver) -> None:
    await webhooks.add(console.pool, "crm", receiver.url, SECRET, ["payment_due"], actor="test")
    attempt = await an_attempt(console)
    due = console.clock().date()
    await record_outcome(
        console.pool, attempt, "promise_to_pay", {"slots": {"date": due.isoformat(), "amount": "75.00"}}, None
    )
    for _ in range(3):
        await webhooks.emit_due_promises(console.pool, due)
    await rounds(console)
    assert len(receiver.got) == 1
    data = json.loads(receiver.got[0]["body"])["data"]
    assert (data["account"], data["due"], data["amount"]) == ("ACC-1002", due.isoformat(), "75.00")


async def test_a_new_webhook_does_not_replay_history(console: Console, receiver: Receiver) -> None:
    await record_outcome(console.pool, await an_attempt(console), "refuse", {"slots": {}}, None)
    await webhooks.add(console.pool, "late", receiver.url, SECRET, ["outcome"], actor="test")
    await rounds(console)
    assert receiver.got == []
