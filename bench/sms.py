"""Texts through the SMPP link: submit throughput with every receipt matched.

    python bench/sms.py [--texts 3000] [--accounts 3000] [--concurrency 64] [--out bench/results/sms.json]

A fresh embedded PostgreSQL in a temp dir, migrated, with `--accounts` US accounts (a consented mobile
each, California); the SMSC is the smpp34 package's server in this process, which accepts every
submit_sm and sends a DELIVRD receipt (TLVs and text) right after its submit_sm_resp. `SmsService.send`
does what a campaign's texter does for each text: the gate (locked per account, verdict recorded), the
outbox row and ledger entry in one transaction, then the aiosmpplib link (rate limit set far above the
measured rate). `--concurrency` sends run at once, `--texts` in all, each with its own step key.

Reported: texts/s from the first send to the last `submitted` row (the SMSC's id stored), the seconds
until every receipt is matched to its message (`delivered`), the share matched (target 100%), the
gate-and-outbox time per text (p50/p95), and the CPU seconds of this process and of PostgreSQL.
Target: >= 200 texts/s sustained with 100% of the receipts matched. Prints JSON and records it with the
machine in bench/results/sms.json. About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import smpp34
from common import cpu_seconds, fresh_var, machine, pct, report, tree_cpu

from dunline.channels.smpp import SmppGateway
from dunline.channels.sms import SmsService
from dunline.config.schema import SmsSettings
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store.accounts import import_portfolio
from dunline.store.db import connect_pool
from dunline.store.embedded import start_embedded
from dunline.store.migrate import migrate

NOW = datetime(2026, 12, 8, 19, 0, tzinfo=UTC)  # Tuesday 11:00 in California: inside every window


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _smsc(server: Any, seen: list[float]) -> None:
    ids = itertools.count(1)
    esme: Any = None
    pending: set[asyncio.Task[Any]] = set()

    async def receipt(dest: str, mid: str) -> None:
        text = f"id:{mid} sub:001 dlvrd:001 stat:DELIVRD err:000 text:x".encode()
        tlvs = [smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, mid.encode() + b"\0"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([2]))]  # fmt: skip
        await esme.deliver_sm("Dunline", text, source_addr=dest, esm_class=0x04, tlvs=tlvs)

    while True:
        ev = await server.next()
        if isinstance(ev, smpp34.Esme):
            esme = ev
        elif isinstance(ev, smpp34.SubmitSmEvent):
            mid = f"b{next(ids)}"
            ev.accept(mid)
            seen.append(time.perf_counter())
            task = asyncio.create_task(receipt(ev.destination_addr, mid))
            pending.add(task)
            task.add_done_callback(pending.discard)


def _docs(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"SB-{i:06d}",
            "contact": {
                "country": "US",
                "region": "CA",
                "timezone": "America/Los_Angeles",
                "phones": [{"number": f"+1415557{i:04d}", "type": "mobile", "consent": True}],
            },
            "identity": {"name": f"Bench {i}"},
            "loan": {"principal": "800.00", "balance": "450.00", "due_date": "2026-09-15"},
        }
        for i in range(n)
    ]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    var = fresh_var("dunline-bench-sms-")
    pg = start_embedded(var / "pg")
    try:
        pool = await connect_pool(pg.dsn, max_size=20)
        await migrate(pool)
        parsed = parse_accounts_json(json.dumps(_docs(args.accounts)))
        assert parsed.ok, parsed.errors[:3]
        await import_portfolio(pool, parsed.rows, upsert=True)
        accounts = [
            (r["id"], r["number_e164"])
            for r in await pool.fetch(
                "SELECT a.id, p.number_e164 FROM accounts a JOIN phones p ON p.debtor_id = a.debtor_id"
                " ORDER BY a.id"
            )
        ]
        port = _free_port()
        server = smpp34.Server("127.0.0.1", port, system_id="bench")
        await server.start()
        seen: list[float] = []
        smsc = asyncio.create_task(_smsc(server, seen))
        settings = SmsSettings(port=port, per_second=10000.0)
        service = SmsService(pool, settings, lambda: NOW)
        gateway = SmppGateway(settings, service)
        await gateway.start()
        service.link = gateway
        gate_ms: list[float] = []
        queue = list(range(args.texts))
        body = "Your payment of $450.00 on the account ending 0001 is due."

        async def worker() -> None:
            while queue:
                i = queue.pop()
                aid, number = accounts[i % len(accounts)]
                t0 = time.perf_counter()
                sent = await service.send(aid, number, body, step_key=f"bench:{i}")
                gate_ms.append((time.perf_counter() - t0) * 1000)
                assert sent.message_id is not None, sent.verdict

        cpu0, pg0 = cpu_seconds(os.getpid()), tree_cpu(pg.pid)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        sent_s = time.perf_counter() - start
        deadline = time.monotonic() + 60
        submitted_s = delivered_s = None
        while time.monotonic() < deadline:
            counts = {r["state"]: r["n"] for r in await pool.fetch(
                "SELECT state, count(*) AS n FROM sms_messages GROUP BY state")}  # fmt: skip
            done = sum(n for s, n in counts.items() if s not in ("sending",))
            if submitted_s is None and done >= args.texts:
                submitted_s = time.perf_counter() - start
            if counts.get("delivered", 0) >= args.texts:
                delivered_s = time.perf_counter() - start
                break
            await asyncio.sleep(0.05)
        cpu = cpu_seconds(os.getpid()) - cpu0
        pg_cpu = tree_cpu(pg.pid) - pg0
        delivered = await pool.fetchval("SELECT count(*) FROM sms_messages WHERE state = 'delivered'")
        unmatched = await pool.fetchval("SELECT count(*) FROM sms_receipts WHERE message_id IS NULL")
        states = {r["state"]: r["n"] for r in await pool.fetch(
            "SELECT state, count(*) AS n FROM sms_messages GROUP BY state ORDER BY state")}  # fmt: skip
        receipts_stored = await pool.fetchval("SELECT count(*) FROM sms_receipts")
        errors = {r["error"]: r["n"] for r in await pool.fetch(
            "SELECT left(error, 120) AS error, count(*) AS n FROM sms_messages WHERE state = 'failed'"
            " GROUP BY 1")}  # fmt: skip
        await gateway.close()
        smsc.cancel()
        await server.stop()
        await pool.close()
        return {
            "benchmark": "sms",
            "texts": args.texts,
            "concurrency": args.concurrency,
            "send_s": round(sent_s, 3),
            "submitted_s": round(submitted_s, 3) if submitted_s else None,
            "texts_per_s": round(args.texts / submitted_s, 1) if submitted_s else None,
            "all_receipts_matched_s": round(delivered_s, 3) if delivered_s else None,
            "receipts_matched": f"{delivered}/{args.texts}",
            "receipts_unmatched": unmatched,
            "receipts_stored": receipts_stored,
            "receipts_sent_by_smsc": len(seen),
            "message_states": states,
            "failed_because": errors,
            "gate_and_outbox_ms": {"p50": round(pct(gate_ms, 0.5), 1), "p95": round(pct(gate_ms, 0.95), 1)},
            "cpu_s": {"bench_process": round(cpu, 2), "postgres": round(pg_cpu, 2)},
            "target": ">= 200 texts/s, 100% of the receipts matched",
            "machine": machine(),
        }
    finally:
        pg.stop()
        shutil.rmtree(var, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=3000)
    p.add_argument("--accounts", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "sms.json"))
    args = p.parse_args()
    return report(asyncio.run(run(args)), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
