"""Turn latency and concurrency of spoken answers through the real PBX.

Simulated debtors (carrier pattern _+1415557XXXX) answer the speech-first flow by voice: "Yes,
that's me." -> "Yeah, I can pay two hundred dollars next Friday." -> "Yes, that's right." (piper
audio over the trunk). For each answer the controller measures the turn: from the end of the
debtor's speech (the endpointer's last speech frame, in wall-clock time) to ARI's PlaybackStarted
of our reply. That is where our reply leaves the PBX; the loopback hop to the debtor adds only
the RTP packetisation (20 ms). Steps run C calls at a time (at least 10 calls, 3 turns each, so at
least 30 turns a step) and report p50/p95,
ASR time, speculative-decode hits and outcomes. Prints JSON; writes bench/results/turns.json.

    .venv/bin/python bench/turns.py [--calls 1,5,10,20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from dunline.controller import asterisk
from dunline.controller.app import Controller, dial_targets, prepare_targets
from dunline.controller.clocks import next_weekday_at, starting_at
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable
from dunline.store.embedded import stop_embedded

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_var, machine, pct, report, settings_for

CONFIG = """
asterisk:
  pbx:     {sip_port: 5460, rtp_start: 28000, rtp_end: 28999, ami_port: 5338, http_port: 8388}
  carrier: {sip_port: 5470, rtp_start: 29000, rtp_end: 29999, ami_port: 5339, http_port: 8389}
trunks:
  - {name: carrier, host: 127.0.0.1, port: 5470, username: dunline, from_user: dunline,
     caller_id: "+14155550100", max_channels: 100, calls_per_second: %(cps)s}
dialer: {max_concurrent_calls: %(concurrent)s}
speech: {enabled: true, workers: %(workers)s, cpu_threads: %(threads)s}
"""


def csv_rows(n: int, offset: int) -> str:
    head = "external_id,account_ref,full_name,phone,phone_type,phone_consent,"
    head += "balance,principal,due_date,timezone\n"
    rows = [
        f"V-{offset + i},TALK-{offset + i},Paula Promise,+1415557{offset + i:04d},mobile,yes,900.00,900.00,"
        "2026-10-01,America/New_York"
        for i in range(n)
    ]
    return head + "\n".join(rows) + "\n"


CALL_S = 45.0  # one scripted call lasts about this long


async def step(
    var: Path, concurrent: int, offset: int, workers: int, threads: int, staggered: bool
) -> dict[str, Any]:
    """`concurrent` calls at a time, and at least 10 calls (30 turns) in all. Burst: all calls start
    together, so every debtor speaks at the same moment (the worst case). Staggered: calls start
    CALL_S/concurrent apart, so about `concurrent` are talking at any time, at random phases."""
    calls = max(2 * concurrent if staggered else concurrent, 10)
    cps = round(concurrent / CALL_S, 3) if staggered else 20
    values = {"workers": workers, "threads": threads, "concurrent": concurrent, "cps": cps}
    settings = settings_for(var, CONFIG % values, f"turns-{concurrent}")
    csv = var / f"talk-{calls}.csv"
    csv.write_text(csv_rows(calls, offset))
    # a clock inside calling hours: the compliance gate decides every call
    clock = starting_at(next_weekday_at(1, dtime(11, 0), "America/Los_Angeles"))
    async with Controller(settings, start_asterisk=False, clock=clock) as rt:
        await import_file(rt.pool, csv, upsert=True)
        numbers = {f"+1415557{offset + i:04d}" for i in range(calls)}
        accounts = [a for a in await list_dialable(rt.pool, 100000) if a.phone_e164 in numbers]
        targets = await prepare_targets(rt, accounts)
        assert rt.speech is not None
        rt.speech.listeners.clear()
        results = await dial_targets(rt, f"turns-{calls}", targets)
        turns = [t for lst in rt.speech.listeners for t in lst.turn_ms]
        asr = [t["asr_ms"] for lst in rt.speech.listeners for t in lst.turns]
        hits = sum(lst.speculative_hits for lst in rt.speech.listeners)
        early = sum(lst.early_commits for lst in rt.speech.listeners)
        resumed = sum(lst.early_resumed for lst in rt.speech.listeners)
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
    return {
        "simultaneous_calls": concurrent,
        "arrivals": "staggered" if staggered else "burst",
        "calls": calls,
        "turns": len(turns),
        "turn_ms": {
            "p50": round(pct(turns, 0.5)),
            "p95": round(pct(turns, 0.95)),
            "max": round(max(turns or [0])),
        },
        "asr_ms": {"p50": round(pct(asr, 0.5)), "p95": round(pct(asr, 0.95))},
        "speculative_hits": hits,
        "early_commits": early,  # answers taken at their first pause
        "early_resumed": resumed,  # ... after which the debtor spoke within 1 s (possible cut-offs)
        "outcomes": outcomes,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    var = fresh_var("dunline-turns-")
    values = {"workers": args.workers, "threads": args.threads, "concurrent": 1, "cps": 1}
    settings = settings_for(var, CONFIG % values, "base")
    asterisk.down(settings)
    await asterisk.up(settings)
    steps = []
    try:
        offset = 0
        for calls in [int(c) for c in args.calls.split(",")]:
            steps.append(await step(var, calls, offset, args.workers, args.threads, args.staggered))
            offset += max(2 * calls, 10)
            print(json.dumps(steps[-1]), file=sys.stderr)
    finally:
        asterisk.down(settings)
        stop_embedded(var / "pg")
    ok = [s for s in steps if s["turn_ms"]["p95"] <= 1500]
    return {
        "benchmark": "turns",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "asr": {"model": "whisper-base int8", "workers": args.workers, "cpu_threads": args.threads},
        "first_step_turn_ms": steps[0]["turn_ms"] if steps else None,
        "max_simultaneous_calls_with_p95_under_1500ms": max((s["simultaneous_calls"] for s in ok), default=0),
        "steps": steps,
    }


def run() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", default="1,5,10,20")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--staggered", action="store_true", help="spread call starts (realistic load)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "turns.json"))
    args = ap.parse_args()
    return report(asyncio.run(main(args)), args.out)


if __name__ == "__main__":
    sys.exit(run())
