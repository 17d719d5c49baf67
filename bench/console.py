"""The console and the HTTP API with 100,000 stored accounts: upsert throughput and page times.

    python bench/console.py [--accounts 100000] [--big 20000] [--update 10000] [--requests 60]
                            [--debtor-pages 200] [--out bench/results/console.json] [--keep]

A fresh embedded PostgreSQL in a temp dir, migrated; the app (`web.app.build_app`, a fixed clock) served
by aiohttp's AppRunner on a loopback TCP port in this process; the client is an aiohttp ClientSession
in the same process, one request at a time on one keep-alive connection.

1. API upsert throughput: synthetic account documents (5 US regions, 20% with a second phone, 2% with
   a flag; see `synth`) are sent to `POST /api/v1/accounts` with a token holding accounts:write:
   the first `--accounts` minus `--big` in requests of 1,000 documents, the last `--big` in requests of
   5,000 (all of them new accounts: the insert path of the upsert), then `--update` already-stored
   accounts (a random sample) again in requests of 1,000 with new balances (the update path). Per
   request: the time from sending the (pre-encoded) body to reading the whole answer. Reported per
   request size: accounts/s overall (accounts / summed request time) and the median of the requests'
   rates, and the CPU seconds of this process and of PostgreSQL (all its processes) over the pass.
   Target: >= 2,000 accounts/s (1,000 per request, overall).
2. Page times with the accounts stored: payments for 40% of the accounts, and for 10% a contact
   history (2-12 calls with the gate's verdicts, ivr.session ledger entries and promise_to_pay outcomes
   on answered calls, weekly SMS, a refused attempt for a third of them) are inserted with SQL; then
   `controller.planning.plan_stored` plans every account (timed); ANALYZE runs after the load and after
   planning (autovacuum would, later). Logged in as a supervisor through the login form, the bench
   requests, in a shuffled order, `--requests` times each list kind: `/accounts` unfiltered page 1,
   page 2000, by tier (each in use), by stage (each in use), by min_overdue (10-170), by flag (each in
   use), by a reference prefix (`q=AC-00NNN`, 100 accounts), by the last 4 digits of a stored number;
   and `--debtor-pages` debtor pages `/accounts/{ref}` of random accounts. Per request: the time from
   sending it to reading the whole body on loopback ("client"), and the handler time inside the app
   (an outermost timing middleware the bench adds: the auth middlewares, the queries and the template,
   without HTTP parsing and sending; "server"). Reported p50/p95/max per kind. Target: p95 <= 150 ms
   (client time) for every kind. A breakdown times the store calls alone (`store.console.list_accounts`
   per list kind, `filter_choices`, which every full list page also runs, and `debtor_360`) and records
   each list kind's EXPLAIN ANALYZE (execution time, plan nodes).

Prints JSON and records it with the machine in bench/results/console.json. 3.5 to 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fresh_var, machine, pct, report, tree_cpu

from dunline.config.schema import Settings
from dunline.controller.planning import plan_stored
from dunline.store import console as store
from dunline.store.db import connect_pool
from dunline.store.embedded import EmbeddedPostgres, start_embedded
from dunline.store.migrate import migrate
from dunline.store.users import add_token, add_user
from dunline.web.app import build_app
from dunline.web.passwords import hash_password, new_token

NOW = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # 11:00 in New York, 08:00 in California
TARGET_UPSERT = 2000  # accounts per second, 1,000 per request
TARGET_P95_MS = 150.0
PASSWORD = "bench console password 1"
REGIONS = [
    ("CA", "San Francisco", "America/Los_Angeles", "415"),
    ("NY", "New York", "America/New_York", "212"),
    ("MA", "Boston", "America/New_York", "617"),
    ("WA", "Seattle", "America/Los_Angeles", "206"),
    ("TX", "Austin", "America/Chicago", "512"),
]
FIRST = ["Maria", "James", "Wei", "Aisha", "Daniel", "Sofia", "Liam", "Chen", "Olivia", "Noah", "Fatima"]
LAST = ["Lopez", "Smith", "Zhang", "Khan", "Brown", "Garcia", "Nguyen", "Miller", "Wilson", "Patel", "Kim"]
HANDLER_HEADER = "X-Bench-Handler-Ms"


def ref_of(i: int) -> str:
    return f"AC-{i:07d}"


def synth(i: int, *, update: bool = False) -> dict[str, Any]:
    """Account document `i` (docs/strategies.md), the same every time; `update` gives it a lower balance
    (what a lender's nightly sync sends)."""
    rng = random.Random(i)
    region, city, tz, area = REGIONS[i % len(REGIONS)]
    phones = [{"number": f"+1{area}{2_000_000 + i:07d}", "type": "mobile", "consent": rng.random() < 0.8}]
    if rng.random() < 0.2:
        other = REGIONS[(i + 1) % len(REGIONS)][3]
        phones.append({"number": f"+1{other}{3_000_000 + i:07d}", "type": "landline", "consent": False})
    flags = [rng.choice(["cease", "dispute", "hardship"])] if rng.random() < 0.02 else []
    days = rng.randint(1, 180)
    principal = rng.randint(200, 20_000)
    paid = rng.randint(0, principal // 2) if rng.random() < 0.5 else 0
    balance = principal - paid - (random.Random(-1 - i).randint(1, principal // 4) if update else 0)
    due = NOW.date() - timedelta(days=days)
    return {
        "id": ref_of(i),
        "debtor_id": f"D-{i:07d}",
        "language": "en",
        "contact": {
            "country": "US",
            "region": region,
            "city": city,
            "timezone": tz,
            "phones": phones,
            "flags": flags,
        },
        "identity": {"name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "national_id": f"{i:09d}"},
        "loan": {
            "principal": f"{principal}.00",
            "currency": "USD",
            "start": (due - timedelta(days=rng.choice([90, 180, 365]))).isoformat(),
            "due_date": due.isoformat(),
            "paid": f"{paid}.00",
            "balance": f"{max(balance, 1)}.00",
            "interest_rate": str(rng.choice([12, 18, 24])),
            "late_fee": "35.00",
        },
        "behaviour": {"overdue_count": rng.randint(0, 5), "on_time_ratio": round(rng.random(), 2)},
        "credit": {"score": rng.randint(450, 800), "trend": rng.choice(["rising", "flat", "falling"])},
        "personal": {"income_stability": rng.choice(["stable", "variable", "unstable"])},
    }


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50": round(pct(values_ms, 0.5), 1),
        "p95": round(pct(values_ms, 0.95), 1),
        "max": round(max(values_ms), 1),
    }


@web.middleware
async def stopwatch(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> Any:
    """Outermost: the time the app spends on a request (auth, queries, template), as a header."""
    t0 = time.perf_counter()
    response = await handler(request)
    response.headers[HANDLER_HEADER] = f"{(time.perf_counter() - t0) * 1000:.3f}"
    return response


@dataclass
class Stack:
    var: Path
    pg: EmbeddedPostgres
    pool: asyncpg.Pool
    runner: web.AppRunner
    base: str
    token: str
    http: aiohttp.ClientSession
    cpu_marks: dict[str, float] = field(default_factory=dict)

    def cpu(self) -> tuple[float, float]:
        return time.process_time(), pg_cpu(self.pg.pid)


def pg_cpu(postmaster: int) -> float:
    """CPU seconds of PostgreSQL: its live processes and the children it has reaped (autovacuum
    workers, parallel workers), which `tree_cpu` alone would lose when they exit."""
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        reaped = 0.0
    return tree_cpu(postmaster) + reaped


async def open_stack(var: Path) -> Stack:
    pg = start_embedded(var / "pg")
    try:
        return await _serve(var, pg)
    except BaseException:
        pg.stop()
        shutil.rmtree(var, ignore_errors=True)
        raise


async def _serve(var: Path, pg: EmbeddedPostgres) -> Stack:
    admin = await asyncpg.connect(pg.dsn)
    await admin.execute('CREATE DATABASE "console"')
    await admin.close()
    pool = await connect_pool(pg.dsn_for("console"), max_size=8)
    await migrate(pool)
    await add_user(pool, "super", "supervisor", hash_password(PASSWORD), actor="bench")
    token = new_token()
    await add_token(pool, "loader", token, ["accounts:write", "accounts:read"], actor="bench")
    app = build_app(Settings(var_dir=var), pool, clock=lambda: NOW)
    app.middlewares.insert(0, stopwatch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies for 127.0.0.1
    return Stack(var, pg, pool, runner, f"http://127.0.0.1:{port}", token, http)


async def close_stack(s: Stack, *, keep: bool) -> None:
    await s.http.close()
    await s.runner.cleanup()
    await s.pool.close()
    if keep:
        print(
            f"kept: {s.pg.dsn_for('console')} (stop with stop_embedded({str(s.pg.data_dir)!r}))",
            file=sys.stderr,
        )
        return
    s.pg.stop()
    shutil.rmtree(s.var, ignore_errors=True)


# --- 1. the API upsert ---------------------------------------------------------------------------


async def post_accounts(s: Stack, body: bytes) -> tuple[float, float, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {s.token}", "Content-Type": "application/json"}
    t0 = time.perf_counter()
    async with s.http.post(f"{s.base}/api/v1/accounts", data=body, headers=headers) as r:
        doc = await r.json()
        elapsed = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError(f"upsert answered {r.status}: {json.dumps(doc)[:500]}")
        return elapsed, float(r.headers[HANDLER_HEADER]) / 1000, doc


def batches(indices: list[int], size: int, *, update: bool) -> Iterator[tuple[int, bytes]]:
    for lo in range(0, len(indices), size):
        part = indices[lo : lo + size]
        yield len(part), json.dumps([synth(i, update=update) for i in part]).encode()


async def upsert_pass(s: Stack, indices: list[int], size: int, *, update: bool) -> dict[str, Any]:
    key = "accounts_updated" if update else "accounts_created"
    times, handler, rates, sizes = [], [], [], []
    done = 0
    cpu0 = s.cpu()
    for n, body in batches(indices, size, update=update):
        elapsed, in_app, doc = await post_accounts(s, body)
        if doc[key] != n:
            raise RuntimeError(f"expected {n} {key}, the API said {doc}")
        done += n
        times.append(elapsed)
        handler.append(in_app)
        rates.append(n / elapsed)
        sizes.append(len(body))
    cpu1 = s.cpu()
    total = sum(times)
    return {
        "accounts": done,
        "per_request": size,
        "requests": len(times),
        "accounts_per_s_overall": round(done / total),
        "accounts_per_s_median": round(statistics.median(rates)),
        "accounts_per_s_min": round(min(rates)),
        "request_s": {"p50": round(statistics.median(times), 3), "max": round(max(times), 3)},
        "handler_share": round(sum(handler) / total, 3),
        "body_kib_mean": round(statistics.mean(sizes) / 1024, 1),
        "cpu_s": {"python": round(cpu1[0] - cpu0[0], 1), "postgres": round(cpu1[1] - cpu0[1], 1)},
        "wall_s": round(total, 1),
    }


# --- 2. history, plans, pages --------------------------------------------------------------------

HISTORY_SQL = [
    # payments: 40% of the accounts, 1-6 each, over the last months
    """
    INSERT INTO payments (account_id, paid_at, amount, reference)
    SELECT a.id, $1::timestamptz - make_interval(days => g * 17 + (a.id % 13)::int),
           (20 + (a.id * 7 + g * 13) % 300)::numeric(14, 2), 'P-' || a.id || '-' || g
    FROM accounts a, generate_series(1, 1 + (a.id % 6)::int) AS g
    WHERE a.id % 10 < 4
    """,
    # calls: 10% of the accounts, 2-12 each over the last 48 days, on the debtor's first phone
    """
    INSERT INTO attempts (id, account_id, phone_id, number_e164, state, kind, template, created_at,
                          updated_at, ended_at)
    SELECT gen_random_uuid(), a.id, ph.id, ph.number_e164,
           (ARRAY['no_answer', 'busy', 'voicemail', 'completed', 'no_answer'])[1 + ((a.id + g) % 5)::int],
           'prerecorded', 'reminder_call', t.at, t.at, t.at + interval '40 seconds'
    FROM accounts a
    JOIN LATERAL (SELECT id, number_e164 FROM phones WHERE debtor_id = a.debtor_id
                  ORDER BY priority, id LIMIT 1) ph ON true
    CROSS JOIN LATERAL generate_series(1, 2 + (a.id % 11)::int) AS g
    CROSS JOIN LATERAL (SELECT $1::timestamptz - make_interval(days => g * 4, hours => 1 + (a.id % 5)::int)
                        AS at) t
    WHERE a.id % 10 = 3
    """,
    # the gate's verdict before each call
    """
    INSERT INTO verdicts (account_id, attempt_id, at, channel, number_e164, kind, allowed, profiles)
    SELECT account_id, id, created_at - interval '1 second', 'call', number_e164, kind, true, '{us}'
    FROM attempts
    """,
    # a refused attempt (outside the hours) for a third of them
    """
    INSERT INTO verdicts (account_id, at, channel, number_e164, kind, allowed, rules, reasons,
                          next_allowed_at, profiles)
    SELECT a.account_id, $1::timestamptz - interval '2 days 9 hours', 'call', min(a.number_e164),
           'prerecorded', false, '{us-hours}', '["outside the allowed hours (08:00-21:00 local)"]'::jsonb,
           $1::timestamptz - interval '2 days', '{us}'
    FROM attempts a WHERE a.account_id % 3 = 0 GROUP BY a.account_id
    """,
    # answered calls: an IVR session (verified) and a promise for every other one
    """
    INSERT INTO contact_ledger (account_id, attempt_id, at, channel, direction, event, detail)
    SELECT account_id, id, created_at + interval '5 seconds', 'call', 'outbound', 'ivr.session',
           '{"verified": true, "played": ["greeting", "verify", "reminder"]}'::jsonb
    FROM attempts WHERE state = 'completed'
    """,
    """
    INSERT INTO outcomes (attempt_id, account_id, outcome, detail, at)
    SELECT id, account_id, 'promise_to_pay',
           jsonb_build_object('by', 'ivr', 'slots',
               jsonb_build_object('date', (created_at + interval '7 days')::date, 'amount', '100.00')),
           created_at + interval '30 seconds'
    FROM attempts WHERE state = 'completed' AND extract(day FROM created_at)::int % 2 = 0
    """,
    # a weekly reminder SMS for the same accounts
    """
    INSERT INTO contact_ledger (account_id, at, channel, direction, event, detail)
    SELECT a.id, $1::timestamptz - make_interval(days => 7 * g), 'sms', 'outbound', 'contact',
           jsonb_build_object('result', 'delivered', 'phone', ph.number_e164, 'template', 'reminder_sms')
    FROM accounts a
    JOIN LATERAL (SELECT number_e164 FROM phones WHERE debtor_id = a.debtor_id
                  ORDER BY priority, id LIMIT 1) ph ON true
    CROSS JOIN generate_series(1, 4) AS g
    WHERE a.id % 10 = 3
    """,
]


async def add_history(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn, conn.transaction():
        for sql in HISTORY_SQL:
            if "$1" in sql:
                await conn.execute(sql, NOW)
            else:
                await conn.execute(sql)
    counts = {}
    for table in ("payments", "attempts", "verdicts", "contact_ledger", "outcomes"):
        counts[table] = await pool.fetchval(f"SELECT count(*) FROM {table}")
    counts["accounts_with_payments"] = await pool.fetchval("SELECT count(DISTINCT account_id) FROM payments")
    counts["accounts_with_calls"] = await pool.fetchval("SELECT count(DISTINCT account_id) FROM attempts")
    return counts


async def login(s: Stack) -> None:
    async with s.http.get(f"{s.base}/login") as r:
        page = await r.text()
    found = re.search(r'name="csrf"\s+value="([^"]+)"', page)
    if found is None:
        raise RuntimeError("no csrf field on the login page")
    form = {"csrf": found.group(1), "name": "super", "password": PASSWORD, "next": "/accounts"}
    async with s.http.post(f"{s.base}/login", data=form, allow_redirects=False) as r:
        if r.status != 303:
            raise RuntimeError(f"login answered {r.status}: {(await r.text())[:300]}")


async def get(s: Stack, path: str) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    async with s.http.get(s.base + path, allow_redirects=False) as r:
        body = await r.read()
        elapsed = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError(f"GET {path} answered {r.status}: {body[:300]!r}")
        return elapsed * 1000, float(r.headers[HANDLER_HEADER]), len(body)


@dataclass
class Workload:
    lists: dict[str, list[dict[str, Any]]]  # kind -> the query of each request
    debtors: list[str]  # account refs


async def workload(pool: asyncpg.Pool, n: int, pages: int, rng: random.Random) -> Workload:
    tiers = [r["tier"] for r in await pool.fetch("SELECT DISTINCT tier FROM account_plans ORDER BY 1")]
    stages = [r["stage"] for r in await pool.fetch("SELECT DISTINCT stage FROM account_plans ORDER BY 1")]
    flags = [r["f"] for r in await pool.fetch("SELECT DISTINCT unnest(flags) AS f FROM accounts ORDER BY 1")]
    refs = [r["account_ref"] for r in await pool.fetch("SELECT account_ref FROM accounts")]
    numbers = [r["number_e164"] for r in await pool.fetch("SELECT number_e164 FROM phones")]
    lists: dict[str, list[dict[str, Any]]] = {
        "list_page1": [{} for _ in range(n)],
        "list_page2000": [{"page": 2000} for _ in range(n)],
        "list_tier": [{"tier": tiers[k % len(tiers)]} for k in range(n)],
        "list_stage": [{"stage": stages[k % len(stages)]} for k in range(n)],
        "list_min_overdue": [{"min_overdue": rng.randrange(10, 171, 10)} for _ in range(n)],
        "list_flag": [{"flag": flags[k % len(flags)]} for k in range(n)],
        "list_q_ref": [{"q": f"AC-00{rng.randrange(1000):03d}"} for _ in range(n)],
        "list_q_phone4": [{"q": rng.choice(numbers)[-4:]} for _ in range(n)],
    }
    return Workload(lists, rng.sample(refs, pages))


def url_of(query: dict[str, Any]) -> str:
    return "/accounts" + ("?" + urlencode(query) if query else "")


async def pages(s: Stack, w: Workload, rng: random.Random) -> dict[str, dict[str, Any]]:
    tasks = [(kind, url_of(q)) for kind, qs in w.lists.items() for q in qs]
    tasks += [("debtor", f"/accounts/{ref}") for ref in w.debtors]
    for path in {p: k for k, p in tasks}:  # warm: templates, prepared statements, caches
        for _ in range(3):
            await get(s, path)
    rng.shuffle(tasks)  # interleaved, so a noisy moment on a shared machine hits every kind alike
    client: dict[str, list[float]] = {}
    handler: dict[str, list[float]] = {}
    size: dict[str, list[int]] = {}
    for kind, path in tasks:
        c, h, b = await get(s, path)
        client.setdefault(kind, []).append(c)
        handler.setdefault(kind, []).append(h)
        size.setdefault(kind, []).append(b)
    out = {}
    for kind in client:
        out[kind] = {
            "requests": len(client[kind]),
            "client_ms": summary(client[kind]),
            "server_ms": summary(handler[kind]),
            "body_kib_mean": round(statistics.mean(size[kind]) / 1024, 1),
            "target_met": pct(client[kind], 0.95) <= TARGET_P95_MS,
        }
    return out


class _Capture:
    """Stands in for the pool to read the SQL `store.list_accounts` would send."""

    sql = ""
    args: tuple[Any, ...] = ()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


def _nodes(plan: dict[str, Any], depth: int = 0) -> Iterator[str]:
    label = plan["Node Type"]
    if "Index Name" in plan:
        label += f" {plan['Index Name']}"
    elif "Relation Name" in plan:
        label += f" {plan['Relation Name']}"
    label += f" rows={plan.get('Actual Rows')} loops={plan.get('Actual Loops')}"
    if plan.get("Rows Removed by Filter"):
        label += f" removed={plan['Rows Removed by Filter']}"
    yield "  " * depth + label
    for child in plan.get("Plans", []):
        yield from _nodes(child, depth + 1)


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    values, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = await fn()
        values.append(time.perf_counter() - t0)
    return statistics.median(values) * 1000, result


def _filter(query: dict[str, Any]) -> store.AccountFilter:
    return store.AccountFilter(**query)


async def breakdown(pool: asyncpg.Pool, w: Workload, repeat: int = 7) -> dict[str, Any]:
    today = NOW.date()
    out: dict[str, Any] = {}
    choices_ms, _ = await timed(lambda: store.filter_choices(pool), repeat)
    out["filter_choices_ms_median"] = round(choices_ms, 1)
    kinds: dict[str, Any] = {}
    for kind, queries in w.lists.items():
        worst: dict[str, Any] | None = None
        for query in {json.dumps(q, sort_keys=True): q for q in queries[:12]}.values():
            f = _filter(query)
            t, page = await timed(lambda f=f: store.list_accounts(pool, f, today=today), repeat)  # type: ignore[misc]
            if worst is None or t > worst["store_ms_median"]:
                worst = {"query": query, "store_ms_median": round(t, 1), "rows": len(page.rows)}
        assert worst is not None
        capture = _Capture()
        await store.list_accounts(capture, _filter(worst["query"]), today=today)  # type: ignore[arg-type]
        plan = await pool.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + capture.sql, *capture.args)
        doc = plan if isinstance(plan, list) else json.loads(plan)
        worst["explain_ms"] = round(doc[0]["Execution Time"], 1)
        worst["explain"] = list(_nodes(doc[0]["Plan"]))
        kinds[kind] = worst
    out["list_accounts_slowest_query_per_kind"] = kinds
    debtor = []
    for ref in w.debtors[:30]:
        t, _ = await timed(lambda ref=ref: store.debtor_360(pool, ref, now=NOW), 3)  # type: ignore[misc]
        debtor.append(t)
    out["debtor_360_ms"] = {"p50": round(pct(debtor, 0.5), 1), "max": round(max(debtor), 1)}
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    var = fresh_var("dunline-bench-console-")
    s = await open_stack(var)
    rng = random.Random(11)
    try:
        small = list(range(args.accounts - args.big))
        big = list(range(args.accounts - args.big, args.accounts))
        t0 = time.perf_counter()
        load_1000 = await upsert_pass(s, small, 1000, update=False)
        load_5000 = await upsert_pass(s, big, 5000, update=False) if big else None
        update = await upsert_pass(
            s, sorted(rng.sample(range(args.accounts), args.update)), 1000, update=True
        )
        load_s = time.perf_counter() - t0
        stored = await s.pool.fetchval("SELECT count(*) FROM accounts")
        if stored != args.accounts:
            raise RuntimeError(f"{stored} accounts stored, expected {args.accounts}")

        t0 = time.perf_counter()
        history = await add_history(s.pool)
        await s.pool.execute("ANALYZE")
        history["seconds"] = round(time.perf_counter() - t0, 1)

        planned = await plan_stored(s.pool, NOW)
        await s.pool.execute("ANALYZE")
        plan_doc = {
            "planned": planned.planned,
            "invalid": len(planned.invalid),
            "seconds": round(planned.seconds, 1),
            "accounts_per_s": round(planned.planned / planned.seconds),
            "by_stage": dict(sorted(planned.by_stage.items())),
            "by_tier": dict(sorted(planned.by_tier.items())),
        }

        await login(s)
        w = await workload(s.pool, args.requests, args.debtor_pages, rng)
        t0 = time.perf_counter()
        cpu0 = s.cpu()
        kinds = await pages(s, w, rng)
        cpu1 = s.cpu()
        pages_s = time.perf_counter() - t0
        with_payments = await s.pool.fetchval(
            "SELECT count(DISTINCT a.id) FROM accounts a JOIN payments p ON p.account_id = a.id"
            " WHERE a.account_ref = ANY($1::text[])",
            w.debtors,
        )
        with_calls = await s.pool.fetchval(
            "SELECT count(DISTINCT a.id) FROM accounts a JOIN attempts t ON t.account_id = a.id"
            " WHERE a.account_ref = ANY($1::text[])",
            w.debtors,
        )
        kinds["debtor"]["with_payments"] = with_payments
        kinds["debtor"]["with_calls_and_verdicts"] = with_calls
        store_times = await breakdown(s.pool, w)
    finally:
        await close_stack(s, keep=args.keep)
    missed = sorted(k for k, v in kinds.items() if not v["target_met"])
    return {
        "benchmark": "console",
        "accounts": args.accounts,
        "targets": {"upsert_accounts_per_s": TARGET_UPSERT, "page_p95_ms": TARGET_P95_MS},
        "upsert": {
            "insert_1000_per_request": load_1000,
            "insert_5000_per_request": load_5000,
            "update_1000_per_request": update,
            "target_met": load_1000["accounts_per_s_overall"] >= TARGET_UPSERT,
            "seconds": round(load_s, 1),
        },
        "history": history,
        "plan_stored": plan_doc,
        "pages": {
            "timing": "client_ms: request sent to whole body read, aiohttp client on loopback (same process);"
            " server_ms: the app's handler time, outermost middleware (auth, queries, template)",
            "kinds": kinds,
            "targets_missed": missed,
            "target_met": not missed,
            "cpu_s": {"python": round(cpu1[0] - cpu0[0], 1), "postgres": round(cpu1[1] - cpu0[1], 1)},
            "seconds": round(pages_s, 1),
        },
        "store_breakdown": store_times,
        "machine": machine(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=20_000, help="of which loaded 5,000 per request")
    ap.add_argument("--update", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=60, help="per list kind")
    ap.add_argument("--debtor-pages", type=int, default=200)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "console.json"))
    ap.add_argument("--keep", action="store_true", help="leave the database running (for EXPLAIN)")
    args = ap.parse_args()
    doc = asyncio.run(run(args))
    return report(doc, args.out)


if __name__ == "__main__":
    sys.exit(main())
