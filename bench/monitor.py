"""The live campaign monitor under many watchers: what 50 browsers on one campaign's SSE stream cost
the controller, and how old each update is when it arrives.

    python bench/monitor.py [--clients 1,10,50] [--seconds 30] [--out bench/results/monitor.json]

A fresh embedded PostgreSQL in a temp dir holds a campaign with 2,000 members and 5,000 attempts of
today (results, outcomes, refusals by the gate), and an attempt is added every second while the bench
runs, so every snapshot differs. `dunline serve --console-only` runs in its own process; this process
logs in once and opens N event streams (aiohttp, one connection each) to /campaigns/1/events.

Per step (0 watchers, then each N): the serve process's CPU seconds per wall second (from /proc),
PostgreSQL's (all its processes), and for every `metrics` event received the lag: arrival time minus
the snapshot's `at` (the server's clock at the start of that snapshot's queries; same machine, same
clock). Reported: CPU share added over 0 watchers, events per watcher per second, lag p50/p95/max.
Target: lag p95 <= 1 s with 50 watchers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_seconds, fresh_var, machine, pct, report, tree_cpu

from dunline.store.db import connect_pool
from dunline.store.embedded import start_embedded, stop_embedded
from dunline.store.migrate import migrate
from dunline.store.users import add_user
from dunline.web.passwords import hash_password

PASSWORD = "monitor bench password"


async def seed(pool: asyncpg.Pool, members: int, attempts: int) -> int:
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO debtors (external_id, full_name) SELECT 'D' || g, 'Bench ' || g"
            " FROM generate_series(1, $1) g",
            members,
        )
        await conn.execute(
            "INSERT INTO accounts (debtor_id, account_ref, principal, balance, due_date)"
            " SELECT id, 'M-' || id, 500, 400, current_date - 40 FROM debtors"
        )
        await conn.execute(
            "INSERT INTO phones (debtor_id, number_e164) SELECT id, '+1415560' || lpad(id::text, 4, '0')"
            " FROM debtors"
        )
        cid: int = await conn.fetchval(
            "INSERT INTO campaigns (name, mode, status, spec) VALUES ('bench', 'predictive', 'running',"
            " '{\"abandon_target\": 0.03}') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO campaign_members (campaign_id, account_id, next_try_at)"
            " SELECT $1, id, now() FROM accounts",
            cid,
        )
        rows = await conn.fetch("SELECT a.id, p.id AS phone, p.number_e164 FROM accounts a JOIN phones p"
                                " ON p.debtor_id = a.debtor_id")  # fmt: skip
        rng = random.Random(7)
        states = ["completed"] * 6 + ["no_answer"] * 3 + ["busy", "voicemail", "abandoned"]
        records = []
        for _ in range(attempts):
            r = rng.choice(rows)
            at = now - timedelta(seconds=rng.uniform(0, 6 * 3600))
            records.append((uuid.uuid4(), cid, r["id"], r["phone"], r["number_e164"], rng.choice(states), at))
        await conn.executemany(
            "INSERT INTO attempts"
            " (id, campaign_id, account_id, phone_id, number_e164, state, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            records,
        )
        await conn.execute(
            "INSERT INTO attempt_transitions (attempt_id, seq, to_state, at)"
            " SELECT id, 1, 'human', created_at"
            " FROM attempts WHERE state IN ('completed', 'abandoned')"
        )
        await conn.execute(
            "INSERT INTO outcomes (attempt_id, account_id, outcome, at)"
            " SELECT id, account_id,"
            " (ARRAY['promise_to_pay','refuse','dispute','payment_plan'])[1 + (random()*3)::int],"
            " created_at FROM attempts WHERE state = 'completed'"
        )
        await conn.execute(
            "INSERT INTO verdicts (account_id, at, channel, kind, allowed, rules)"
            " SELECT id, now() - interval '1 hour', 'call', 'agent', false, ARRAY['us-hours'] FROM accounts"
            " WHERE id % 10 = 0"
        )
        await conn.execute("ANALYZE")
    await add_user(pool, "sup", "supervisor", hash_password(PASSWORD), actor="bench")
    return cid


async def trickle(pool: asyncpg.Pool, cid: int, stop: asyncio.Event) -> None:
    """One more ringing call a second, so that every snapshot differs."""
    row = await pool.fetchrow("SELECT a.id, p.id AS phone, p.number_e164 FROM accounts a JOIN phones p"
                              " ON p.debtor_id = a.debtor_id LIMIT 1")  # fmt: skip
    assert row is not None
    while not stop.is_set():
        await pool.execute(
            "INSERT INTO attempts (id, campaign_id, account_id, phone_id, number_e164, state) VALUES"
            " ($1, $2, $3, $4, $5, 'ringing')",
            uuid.uuid4(), cid, row["id"], row["phone"], row["number_e164"],
        )  # fmt: skip
        await asyncio.sleep(1.0)


async def watcher(session: aiohttp.ClientSession, url: str, lags: list[float], stop: asyncio.Event) -> int:
    events = 0
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=30)) as r:
        name = None
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "metrics":
                at = datetime.fromisoformat(json.loads(line[6:])["at"])
                lags.append((datetime.now(UTC) - at).total_seconds())
                events += 1
            if stop.is_set():
                break
    return events


async def step(
    base: str, cookies: Any, n: int, seconds: float, serve_pid: int, pg_pid: int, cid: int
) -> dict[str, Any]:
    lags: list[float] = []
    stop = asyncio.Event()
    async with aiohttp.ClientSession(cookie_jar=cookies, connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = [
            asyncio.create_task(watcher(session, f"{base}/campaigns/{cid}/events", lags, stop))
            for _ in range(n)
        ]
        await asyncio.sleep(3.0)  # connections open, first events in
        lags.clear()
        c0, p0, t0 = cpu_seconds(serve_pid), tree_cpu(pg_pid), time.monotonic()
        await asyncio.sleep(seconds)
        c1, p1, t1 = cpu_seconds(serve_pid), tree_cpu(pg_pid), time.monotonic()
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    wall = t1 - t0
    return {
        "watchers": n,
        "serve_cpu_share": round((c1 - c0) / wall, 4),
        "postgres_cpu_share": round((p1 - p0) / wall, 4),
        "events_per_watcher_s": round(len(lags) / max(n, 1) / wall, 3) if n else 0,
        "lag_s": {
            "p50": round(pct(lags, 0.5), 3) if lags else None,
            "p95": round(pct(lags, 0.95), 3) if lags else None,
            "max": round(max(lags), 3) if lags else None,
        },
        "events": len(lags),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(var: Path, port: int) -> subprocess.Popen[str]:
    """`dunline serve --console-only` in its own process, on the bench's database (the running embedded
    server of `var` is found and reused)."""
    env = {**os.environ, "DUNLINE_VAR_DIR": str(var)}
    env.pop("DUNLINE_CONFIG", None)
    cmd = [
        sys.executable,
        "-m",
        "dunline.controller.cli",
        "serve",
        "--console-only",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    var = fresh_var("dunline-monitor-bench-")
    pg = start_embedded(var / "pg")
    proc = None
    try:
        pool = await connect_pool(pg.dsn, max_size=4)
        await migrate(pool)
        cid = await seed(pool, args.members, args.attempts)
        port = free_port()
        proc = start_serve(var, port)
        base = f"http://127.0.0.1:{port}"
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            for _ in range(200):
                try:
                    async with s.get(base + "/login") as r:
                        page = await r.text()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.2)
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            async with s.post(base + "/login", data={"csrf": csrf, "name": "sup", "password": PASSWORD}) as r:
                assert r.status == 200, await r.text()
        stop = asyncio.Event()
        feeder = asyncio.create_task(trickle(pool, cid, stop))
        steps = []
        for n in [0, *args.clients]:
            steps.append(await step(base, jar, n, args.seconds, proc.pid, pg.pid, cid))
            print(json.dumps(steps[-1]), file=sys.stderr)
        stop.set()
        await feeder
        await pool.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        stop_embedded(var / "pg")
    idle = steps[0]["serve_cpu_share"]
    for s in steps:
        s["serve_cpu_added"] = round(s["serve_cpu_share"] - idle, 4)
    last = steps[-1]
    return {
        "benchmark": "monitor",
        "campaign": {"members": args.members, "attempts_today": args.attempts},
        "seconds_per_step": args.seconds,
        "steps": steps,
        "target": {"lag_p95_s": 1.0, "met": last["lag_s"]["p95"] is not None and last["lag_s"]["p95"] <= 1.0},
        "machine": machine(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="1,10,50", help="watcher counts, comma-separated")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--members", type=int, default=2000)
    p.add_argument("--attempts", type=int, default=5000)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "monitor.json"))
    args = p.parse_args()
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    doc = asyncio.run(run(args))
    report(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
