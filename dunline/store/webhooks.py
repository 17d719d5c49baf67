"""Webhooks in the database: the outbox, subscriptions, deliveries and their tries.

`emit` is called inside the transaction of the change it reports, so an outcome stored is an event
stored, and a rolled-back change reports nothing (the outbox pattern). `fan_out` turns new outbox rows
into one delivery per subscribed webhook; `claim` takes due deliveries with `FOR UPDATE SKIP LOCKED`
(several controllers may send) and leases them for a while, so a controller that dies mid-send leaves
them to be tried again, never lost; `record` keeps every try.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from dunline.store.attempts import audit
from dunline.store.db import UniqueViolation

LEASE_S = 60.0


@dataclass(frozen=True)
class Delivery:
    id: int
    tries: int  # including this one
    url: str
    secret: str
    event: str
    payload: dict[str, Any]


async def emit(
    conn: asyncpg.Connection, event: str, payload: Mapping[str, Any], *, dedupe_key: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO outbox (event, payload, dedupe_key) VALUES ($1, $2::jsonb, $3)"
        " ON CONFLICT (dedupe_key) DO NOTHING",
        event,
        dict(payload),
        dedupe_key,
    )


async def add(
    pool: asyncpg.Pool, name: str, url: str, secret: str, events: Sequence[str], *, actor: str
) -> int:
    async with pool.acquire() as conn, conn.transaction():
        try:
            wid: int = await conn.fetchval(
                "INSERT INTO webhooks (name, url, secret, events, fanned_out_to)"
                " VALUES ($1, $2, $3, $4, (SELECT coalesce(max(id), 0) FROM outbox)) RETURNING id",
                name,
                url,
                secret,
                list(events),
            )
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(f"a webhook named {name!r} already exists", field="name") from exc
        await audit(conn, actor, "webhook.add", f"webhook:{name}", {"url": url, "events": list(events)})
    return wid


async def remove(pool: asyncpg.Pool, name: str, *, actor: str) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute(
            "UPDATE webhooks SET disabled = true WHERE name = $1 AND NOT disabled", name
        )
        if status.endswith(" 0"):
            return False
        await audit(conn, actor, "webhook.disable", f"webhook:{name}", {})
    return True


async def listing(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """
        SELECT w.name, w.url, w.events, w.disabled, w.created_at,
               count(d.id) FILTER (WHERE d.state = 'delivered') AS delivered,
               count(d.id) FILTER (WHERE d.state = 'pending') AS pending,
               count(d.id) FILTER (WHERE d.state = 'failed') AS failed
        FROM webhooks w LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id
        GROUP BY w.id ORDER BY w.name
        """
    )
    return [dict(r.items()) for r in rows]


async def fan_out(pool: asyncpg.Pool) -> int:
    """One delivery per new outbox row and subscribed webhook; returns how many were made."""
    made = 0
    async with pool.acquire() as conn, conn.transaction():
        hooks = await conn.fetch(
            "SELECT id, events, fanned_out_to FROM webhooks WHERE NOT disabled FOR UPDATE SKIP LOCKED"
        )
        top = await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
        for h in hooks:
            if h["fanned_out_to"] >= top:
                continue
            status = await conn.execute(
                "INSERT INTO webhook_deliveries (webhook_id, outbox_id, next_try_at)"
                " SELECT $1, o.id, now() FROM outbox o"
                " WHERE o.id > $2 AND o.id <= $3 AND o.event = ANY($4::text[])"
                " ON CONFLICT DO NOTHING",
                h["id"],
                h["fanned_out_to"],
                top,
                h["events"],
            )
            made += int(status.split()[-1])
            await conn.execute("UPDATE webhooks SET fanned_out_to = $2 WHERE id = $1", h["id"], top)
    return made


async def claim(pool: asyncpg.Pool, now: datetime, limit: int = 20) -> list[Delivery]:
    rows = await pool.fetch(
        """
        UPDATE webhook_deliveries d SET tries = d.tries + 1, next_try_at = $2
        FROM webhooks w, outbox o
        WHERE d.id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_try_at <= $1
                       ORDER BY next_try_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
          AND w.id = d.webhook_id AND o.id = d.outbox_id
        RETURNING d.id, d.tries, w.url, w.secret, o.event, o.payload, o.at
        """,
        now,
        now + timedelta(seconds=LEASE_S),
        limit,
    )
    return [
        Delivery(
            r["id"],
            r["tries"],
            r["url"],
            r["secret"],
            r["event"],
            {**r["payload"], "event_at": r["at"].isoformat()},
        )
        for r in rows
    ]


async def record(
    pool: asyncpg.Pool,
    d: Delivery,
    *,
    at: datetime,
    status: int | None,
    error: str | None,
    ms: int,
    retry_in: float | None,
    delivered: bool,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO webhook_tries (delivery_id, try, at, status, error, ms)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT DO NOTHING",
            d.id,
            d.tries,
            at,
            status,
            (error or "")[:500] or None,
            ms,
        )
        if delivered:
            await conn.execute(
                "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $2 WHERE id = $1", d.id, at
            )
        elif retry_in is None:
            await conn.execute("UPDATE webhook_deliveries SET state = 'failed' WHERE id = $1", d.id)
        else:
            await conn.execute(
                "UPDATE webhook_deliveries SET next_try_at = $2 WHERE id = $1",
                d.id,
                at + timedelta(seconds=retry_in),
            )


async def emit_due_promises(pool: asyncpg.Pool, today: date, *, days_back: int = 3) -> int:
    """A `payment_due` event for each promise falling due today (or in the last `days_back` days, should
    the sender have been down), once per promise."""
    rows = await pool.fetch(
        """
        SELECT o.id, a.account_ref, o.detail->'slots' AS slots
        FROM outcomes o JOIN accounts a ON a.id = o.account_id
        WHERE o.outcome = 'promise_to_pay' AND o.detail->'slots'->>'date' ~ '^\\d{4}-\\d{2}-\\d{2}$'
          AND (o.detail->'slots'->>'date')::date BETWEEN $1 AND $2
        """,
        today - timedelta(days=days_back),
        today,
    )
    async with pool.acquire() as conn, conn.transaction():
        for r in rows:
            slots = r["slots"] or {}
            await emit(
                conn,
                "payment_due",
                {"account": r["account_ref"], "due": slots.get("date"), "amount": slots.get("amount")},
                dedupe_key=f"payment_due:{r['id']}",
            )
    return len(rows)
