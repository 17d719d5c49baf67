"""Sends the webhooks' deliveries: fan out new outbox rows, claim due deliveries, POST each signed
body, record the try, and schedule the next one with backoff (`hooks.retry_after`) until a 2xx or
the last try. Runs as one task of `dunline serve`; several controllers may run it at once."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime

import aiohttp
import asyncpg

from dunline.store import webhooks as store
from dunline.web import hooks

log = logging.getLogger("dunline.webhooks")
SEND_TIMEOUT_S = 10.0


async def send_one(
    session: aiohttp.ClientSession, d: store.Delivery, now: datetime
) -> tuple[int | None, str | None]:
    body = json.dumps({"event": d.event, "delivery": d.id, "data": d.payload}, separators=(",", ":")).encode()
    stamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Dunline-Webhooks/1",
        "X-Dunline-Event": d.event,
        "X-Dunline-Delivery": str(d.id),
        "X-Dunline-Timestamp": str(stamp),
        "X-Dunline-Signature": hooks.signature(d.secret, stamp, body),
    }
    try:
        async with session.post(
            d.url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S),
            allow_redirects=False,
        ) as r:
            await r.read()
            return r.status, None if 200 <= r.status < 300 else f"HTTP {r.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return None, type(exc).__name__ + (f": {exc}" if str(exc) else "")


async def round_once(
    pool: asyncpg.Pool, session: aiohttp.ClientSession, clock: Callable[[], datetime]
) -> int:
    """One round: fan out, send what is due; returns how many were sent."""
    await store.fan_out(pool)
    batch = await store.claim(pool, clock())
    for d in batch:
        t0 = time.perf_counter()
        status, error = await send_one(session, d, clock())
        ms = int((time.perf_counter() - t0) * 1000)
        ok = error is None
        retry = None if ok else hooks.retry_after(d.tries)
        await store.record(
            pool, d, at=clock(), status=status, error=error, ms=ms, retry_in=retry, delivered=ok
        )
        if not ok:
            log.warning(
                "webhook delivery %s try %s: %s%s", d.id, d.tries, error, "" if retry else "; given up"
            )
    return len(batch)


async def run(pool: asyncpg.Pool, clock: Callable[[], datetime], *, interval_s: float = 1.0) -> None:
    """Send until cancelled; also emits `payment_due` for promises falling due, once a minute."""
    last_due = 0.0
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                if time.monotonic() - last_due > 60:
                    await store.emit_due_promises(pool, clock().date())
                    last_due = time.monotonic()
                sent = await round_once(pool, session, clock)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("webhooks: %s; trying again", exc)
                sent = 0
            if sent == 0:
                await asyncio.sleep(interval_s)
