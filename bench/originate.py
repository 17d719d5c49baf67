"""Originate throughput and controller overhead through the real PBX, trunk and carrier simulator.

Two modes, each stepping up the offered call rate (calls/s) and dialling a batch of simulated
debtors per step who answer, say hello, stay silent and hang up (the IVR runs meanwhile):
  short: debtors stay 3 s (+1415556XXXX): the most calls a second the stack originates;
  long:  debtors stay 20 s (+1415554XXXX): many calls up at once (about cps x 21 s), the most
         concurrent calls the stack carries.
The load debtors share one name and balance, so their prompts are rendered once; per-account TTS
cost is reported separately. Reports, per step: the achieved originate rate, failed attempts, the
peak number of calls up at once on the PBX (AMI CoreStatus -> CoreCurrentCalls, sampled every
100 ms: channels running dialplan, i.e. answered calls in AMD() or the IVR; cross-checked with the
attempts answered and not yet ended in the database), the hold time and the measured call length,
AMI events per call, and CPU used by each process (controller, PBX, carrier, PostgreSQL) over the
step and on its plateau (all calls of the step's rate up), so the saturating process is named; CPU
used by other processes meanwhile is reported too (it skews the result on a shared machine: each
step first waits up to --quiet-wait seconds for a quiet one, and a step they took CPU from is run
again, --noisy-retries times). Also the controller's per-ARI-event latency: websocket receipt ->
handler start (queueing in the controller) and -> handler end (including the awaited ARI REST
calls the handler makes). A mode stops at its first step that is not clean (a failed or
unfinished call, or AMD taking a debtor for a machine): saturation. Prints one JSON document and
writes it to bench/results/originate.json.

    .venv/bin/python bench/originate.py [--modes short,long] [--rates 20,40,60,80] [--seconds 8]
        [--long-rates 12,15,18,21,24] [--long-seconds 28]
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

from dunline.controller import asterisk, carrier
from dunline.controller.app import Controller, dial_targets, prepare_targets
from dunline.controller.clocks import next_weekday_at, starting_at
from dunline.dialer.ami import Ami, AmiError
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable
from dunline.store.embedded import server_pid, stop_embedded

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_seconds, fresh_var, machine, pct, report, settings_for, tree_cpu

# Own ports, clear of the test stack at DUNLINE_TEST_PORT_OFFSET 0, 3000 and 6000 (RTP 22000-23999,
# 25000-26999, 28000-29999) and of bench/turns.py and bench/amd.py. 2000 RTP ports an instance: one
# call takes two (RTP + RTCP), so up to 1000 calls.
CONFIG = """
asterisk:
  pbx:     {sip_port: 5360, rtp_start: 30000, rtp_end: 31999, ami_port: 5238, http_port: 8288}
  carrier: {sip_port: 5370, rtp_start: 32000, rtp_end: 33999, ami_port: 5239, http_port: 8289}
trunks:
  - {name: carrier, host: 127.0.0.1, port: 5370, username: dunline, from_user: dunline,
     caller_id: "+14155550100", max_channels: 950, calls_per_second: %(cps)s}
dialer: {max_concurrent_calls: 950, ring_timeout_s: 15}
speech: {enabled: false}  # this benchmark measures the dialling path; bench/turns.py the speech path
database: {pool_max: 20}
"""


# debtors who answer, say hello, stay hold_s and hang up (tests/fixtures/carrier/scenarios.yaml)
MODES = {"short": "_+1415556XXXX", "long": "_+1415554XXXX"}
NOISY_CORES = 0.15  # other processes using more than this over a step skew it: re-run it
SAMPLE_S = 0.1  # concurrency sampling period (AMI CoreStatus)
CPU_EVERY = 10  # CPU snapshot every 10 concurrency samples (1 s)


def prefix(mode: str) -> str:
    return MODES[mode][1:].rstrip("X")


def hold_s(mode: str) -> float:
    return carrier.load_table(asterisk.CARRIER_DIR / "scenarios.yaml")[MODES[mode]].hold_s


def csv_rows(mode: str, n: int, offset: int) -> str:
    head = "external_id,account_ref,full_name,phone,phone_type,phone_consent,"
    head += "balance,principal,due_date,timezone\n"
    p = prefix(mode)
    # one name, balance and reference ending for all: the per-account prompts are rendered once
    rows = [
        f"L-{mode}-{offset + i},LOAD-{mode}-{offset + i}-0100,Load Debtor,{p}{offset + i:04d},mobile,yes,"
        "100.00,100.00,2026-10-01,America/Los_Angeles"
        for i in range(n)
    ]
    return head + "\n".join(rows) + "\n"


def proc_cpu(name: str, pid: int) -> float:
    """CPU seconds of one of the stack's processes. The controller (this process) started both
    Asterisk instances, so they are its children: count its own threads only, not its tree."""
    return cpu_seconds(pid) if name == "controller" else tree_cpu(pid)


def system_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit_s: float, below: float = 0.3) -> float:
    """On a shared machine: wait (at most limit_s) until everything running uses under `below`
    cores over 3 s (this stack idles between steps). Returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        b0, m0 = system_busy_s(), time.monotonic()
        time.sleep(3.0)
        busy = (system_busy_s() - b0) / (time.monotonic() - m0)
        if busy < below or time.monotonic() - t0 >= limit_s:
            return round(time.monotonic() - t0, 1)


class Sampler:
    """Calls up on the PBX every SAMPLE_S (AMI CoreStatus: CoreCurrentCalls) and, every second, the
    CPU seconds of each process and of the whole machine."""

    def __init__(self, ami: Ami, procs: dict[str, int]) -> None:
        self.ami, self.procs = ami, procs
        self.calls: list[tuple[float, int]] = []
        self.cpu: list[tuple[float, dict[str, float], float]] = []
        self.errors = 0

    def snapshot(self) -> None:
        self.cpu.append(
            (time.monotonic(), {k: proc_cpu(k, v) for k, v in self.procs.items()}, system_busy_s())
        )

    async def run(self) -> None:
        i = 0
        while True:
            if i % CPU_EVERY == 0:
                self.snapshot()
            try:
                reply = await self.ami.action("CoreStatus", timeout=2.0)
                self.calls.append((time.monotonic(), int(reply.get("CoreCurrentCalls", "0"))))
            except (AmiError, ValueError):
                self.errors += 1
            i += 1
            await asyncio.sleep(SAMPLE_S)

    def cores(self, lo: float, hi: float) -> dict[str, float] | None:
        """CPU cores used by each process (and by other processes) between monotonic times lo and hi."""
        inside = [c for c in self.cpu if lo <= c[0] <= hi]
        if len(inside) < 2:
            return None
        (t0, c0, s0), (t1, c1, s1) = inside[0], inside[-1]
        span = t1 - t0
        out = {k: round((c1[k] - c0[k]) / span, 2) for k in c0}
        out["others"] = round(max(0.0, (s1 - s0) / span - sum(out.values())), 2)
        return out


def peak_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, d in edges:
        now += d
        peak = max(peak, now)
    return peak


async def step(
    var: Path, mode: str, cps: float, seconds: float, offset: int, pids: dict[str, int]
) -> dict[str, Any]:
    name = f"bench-{mode}-{cps}-{offset}"  # a re-run step is a campaign of its own
    settings = settings_for(var, CONFIG % {"cps": cps}, name)
    hold = hold_s(mode)
    n = max(1, int(cps * seconds))
    if offset + n > 10000:
        raise SystemExit(f"{mode}: the load pattern {MODES[mode]} has 10000 numbers; dial fewer calls")
    csv = var / f"{name}.csv"
    csv.write_text(csv_rows(mode, n, offset))
    # a clock inside calling hours: the compliance gate decides every call
    clock = starting_at(next_weekday_at(1, dtime(11, 0), "America/Los_Angeles"))
    async with Controller(settings, start_asterisk=False, clock=clock) as rt:
        await import_file(rt.pool, csv, upsert=True)
        numbers = {f"{prefix(mode)}{offset + i:04d}" for i in range(n)}
        accounts = [a for a in await list_dialable(rt.pool, 100000) if a.phone_e164 in numbers]
        tp = time.monotonic()
        targets = await prepare_targets(rt, accounts)  # per-account TTS, before any call is placed
        prep_ms = (time.monotonic() - tp) * 1000 / max(1, len(targets))
        procs = {**pids, "controller": os.getpid(), "postgres": server_pid(var / "pg") or 0}
        ami_events = [0]

        def count(_msg: dict[str, str]) -> None:
            ami_events[0] += 1

        unsubscribe = rt.ami.subscribe("*", count)
        ami_states: list[str] = []
        rt.ami.on_state(ami_states.append)  # "lost" when the liveness check gives up on AMI
        sampler = Sampler(rt.ami, procs)
        cpu0 = {k: proc_cpu(k, v) for k, v in procs.items()}
        busy0 = system_busy_s()
        t0 = time.monotonic()
        sampling = asyncio.create_task(sampler.run())
        timed_out = False
        try:
            # an overloaded stack can lose a call's hangup event: never wait for the 900 s guard
            await asyncio.wait_for(dial_targets(rt, name, targets), seconds + hold + 90.0)
        except TimeoutError:
            timed_out = True
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
        wall = time.monotonic() - t0
        cpu = {k: round(proc_cpu(k, v) - cpu0[k], 2) for k, v in procs.items()}
        others = round(max(0.0, system_busy_s() - busy0 - sum(cpu.values())), 2)
        unsubscribe()
        sent = await rt.pool.fetch(
            "SELECT t.at FROM attempt_transitions t JOIN attempts a ON a.id = t.attempt_id"
            " JOIN campaigns c ON c.id = a.campaign_id"
            " WHERE c.name = $1 AND t.to_state = 'dialing' ORDER BY t.at",
            name,
        )
        up = await rt.pool.fetch(
            "SELECT min(t.at) FILTER (WHERE t.to_state = 'answered') AS answered, max(t.at) AS ended"
            " FROM attempt_transitions t JOIN attempts a ON a.id = t.attempt_id"
            " JOIN campaigns c ON c.id = a.campaign_id WHERE c.name = $1 GROUP BY a.id",
            name,
        )
        # what became of each attempt (also of those still unfinished when the step timed out)
        outcome = await rt.pool.fetch(
            "SELECT coalesce(a.result, 'unfinished') AS result, coalesce(a.amd_status, 'none') AS amd,"
            " count(*) AS n FROM attempts a JOIN campaigns c ON c.id = a.campaign_id WHERE c.name = $1"
            " GROUP BY 1, 2",
            name,
        )
        span = (sent[-1]["at"] - sent[0]["at"]).total_seconds() if len(sent) > 1 else 0.0
        overhead = [x * 1000 for x in rt.dispatcher.overhead_samples]
        handler = [x * 1000 for x in rt.dispatcher.completion_samples]
    results_by: dict[str, int] = {}
    amd: dict[str, int] = {}
    for row in outcome:
        results_by[row["result"]] = results_by.get(row["result"], 0) + row["n"]
        amd[row["amd"]] = amd.get(row["amd"], 0) + row["n"]
    failed = sum(results_by.get(k, 0) for k in ("failed", "no_answer", "busy", "unfinished"))
    calls = [(u["answered"], u["ended"]) for u in up if u["answered"] is not None]
    lengths = [(b - a).total_seconds() for a, b in calls]
    samples = [c for _, c in sampler.calls]
    # the plateau: every call of this rate is up (from one hold + setup after the start, to the last dial)
    plateau = (t0 + hold + 3.0, t0 + span)
    on_plateau = [c for t, c in sampler.calls if plateau[0] <= t <= plateau[1]]
    return {
        "mode": mode,
        "offered_cps": cps,
        "calls": n,
        "hold_s": hold,
        "mean_call_s": round(statistics.mean(lengths), 2) if lengths else None,
        "achieved_originate_cps": round((len(sent) - 1) / span, 2) if span else None,
        "results": results_by,
        "failed": failed,
        "timed_out": timed_out,
        # every load debtor is a human who says hello: AMD's MACHINE (or HANGUP) is a call gone
        # wrong, typically INITIALSILENCE: the starved carrier greeted over 2.5 s after answering
        "amd_not_human": amd.get("MACHINE", 0) + amd.get("HANGUP", 0),
        "amd_statuses": dict(sorted(amd.items())),
        "ami_connection_lost": ami_states.count("lost"),
        "peak_concurrent_calls": max(samples) if samples else None,
        "plateau_concurrent_calls_p50": round(statistics.median(on_plateau)) if on_plateau else None,
        "peak_concurrent_answered_db": peak_overlap(calls),
        "concurrency_samples": len(samples),
        "concurrency_sample_errors": sampler.errors,
        "wall_s": round(wall, 2),
        "prompt_prep_ms_per_account": round(prep_ms, 1),
        "cpu_s": cpu,
        "cpu_share_of_2_cores": {k: round(v / (wall * 2), 3) for k, v in cpu.items()},
        "others_cpu_s": others,
        "plateau_cpu_cores": sampler.cores(*plateau),
        "ari_events": len(overhead),
        "ami_events_per_call": round(ami_events[0] / max(1, n), 1),
        "controller_cpu_ms_per_call": round(cpu["controller"] * 1000 / max(1, n), 1),
        "dispatch_ms": {"p50": round(pct(overhead, 0.5), 3), "p95": round(pct(overhead, 0.95), 3)},
        "handler_ms": {"p50": round(pct(handler, 0.5), 3), "p95": round(pct(handler, 0.95), 3)},
    }


def clean(s: dict[str, Any]) -> bool:
    """No failed or unfinished call, and AMD heard every debtor as the human it is."""
    return s["failed"] == 0 and s["amd_not_human"] == 0 and not s["timed_out"]


def bottleneck(steps: list[dict[str, Any]]) -> str | None:
    """The busiest process at the mode's heaviest step (its first failing one, else its last)."""
    if not steps:
        return None
    worst = next((s for s in steps if not clean(s)), steps[-1])
    cores = worst["plateau_cpu_cores"] or {
        k: round(v / worst["wall_s"], 2) for k, v in worst["cpu_s"].items()
    }
    ours = {k: v for k, v in cores.items() if k != "others"}
    top = max(ours, key=lambda k: ours[k])
    return (
        f"{worst['mode']} {worst['offered_cps']} cps ({'not clean' if not clean(worst) else 'clean'}): "
        f"{top} busiest at {ours[top]:.2f} cores; all ours {sum(ours.values()):.2f} of 2 cores"
        f" (+{cores.get('others', 0):.2f} other processes)"
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.monotonic()
    var = fresh_var("dunline-bench-")
    settings = settings_for(var, CONFIG % {"cps": 10}, "base")
    asterisk.down(settings)
    steps: dict[str, list[dict[str, Any]]] = {}
    try:
        pbx, car, _ = await asterisk.up(settings)
        pids = {"pbx": asterisk.running_pid(pbx) or 0, "carrier": asterisk.running_pid(car) or 0}
        plan = {"short": (args.rates, args.seconds), "long": (args.long_rates, args.long_seconds)}
        for mode in args.modes.split(","):
            rates, seconds = plan[mode]
            steps[mode] = []
            offset = 0
            for rate in [float(r) for r in rates.split(",")]:
                for attempt in range(1 + args.noisy_retries):
                    waited = await asyncio.to_thread(wait_quiet, args.quiet_wait)
                    result = await step(var, mode, rate, seconds, offset, pids)
                    offset += int(rate * seconds)
                    result.update(waited_quiet_s=waited, noisy_retries=attempt)
                    print(json.dumps(result), file=sys.stderr)
                    if result["others_cpu_s"] <= NOISY_CORES * result["wall_s"]:
                        break  # other processes left this step the machine: keep it
                steps[mode].append(result)
                if not clean(steps[mode][-1]):
                    break  # saturated: higher rates only fail more
    finally:
        asterisk.down(settings)
        stop_embedded(var / "pg")
    short, long_ = steps.get("short", []), steps.get("long", [])
    every = short + long_
    clean_short = [s for s in short if clean(s)]
    clean_long = [s for s in long_ if clean(s)]
    doc = {
        "benchmark": "originate",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "concurrency_method": "AMI CoreStatus CoreCurrentCalls every 100 ms (answered calls in dialplan)",
        "sustained_cps_without_failure": max((s["achieved_originate_cps"] or 0) for s in clean_short)
        if clean_short
        else 0,
        "sustained_cps_without_failure_and_p95_dispatch_under_5ms": max(
            ((s["achieved_originate_cps"] or 0) for s in clean_short if s["dispatch_ms"]["p95"] <= 5.0),
            default=0,
        ),
        "max_concurrent_calls_without_failure": max(
            (s["peak_concurrent_calls"] or 0 for s in clean_long + clean_short), default=0
        ),
        "long_hold_cps_without_failure": max(
            (s["achieved_originate_cps"] or 0 for s in clean_long), default=0
        ),
        "bottleneck": {"short": bottleneck(short), "long": bottleneck(long_)},
        "dispatch_ms_p95_worst": max(s["dispatch_ms"]["p95"] for s in every) if every else None,
        "median_dispatch_ms": statistics.median(s["dispatch_ms"]["p50"] for s in every) if every else None,
        "wall_s": round(time.monotonic() - t_start, 1),
        "steps": every,
    }
    return doc


def run() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="short,long")
    ap.add_argument("--rates", default="20,40,60,80", help="short-hold mode: calls/s per step")
    ap.add_argument(
        "--seconds", type=float, default=8.0, help="short-hold mode: seconds of dialling per step"
    )
    ap.add_argument("--long-rates", default="12,15,18,21,24", help="long-hold mode: calls/s per step")
    ap.add_argument("--long-seconds", type=float, default=28.0, help="long-hold mode: seconds of dialling")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each step, wait up to this long for a quiet CPU",
    )
    ap.add_argument(
        "--noisy-retries", type=int, default=1, help="re-run a step that other processes took CPU from"
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "originate.json"))
    args = ap.parse_args()
    return report(asyncio.run(main(args)), args.out)


if __name__ == "__main__":
    sys.exit(run())
