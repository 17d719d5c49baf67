"""Planning throughput: `strategies.planner.plan` over a synthetic portfolio with histories, one core.

    python bench/plan.py [--accounts 100000] [--out bench/results/plan.json]

Accounts vary in tier inputs (days overdue 1-120, prior overdues, credit trend, income), region
(CA, NY, MA, WA, TX), flags (2% cease/dispute/hardship) and history (0-12 contacts over the last 30
days, some promises, some SMS read). Reports accounts per second (median of the chunks of 10,000),
the share of accounts per stage, and memory: the Python allocation (tracemalloc, measured while the
portfolio is built; planning runs without it) for holding the portfolio, and the process's max
RSS. Target: >= 5,000 accounts per second per core.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, report

from dunline.strategies.history import Touch, parse_history
from dunline.strategies.planner import plan
from dunline.strategies.profile import AccountProfile, parse_profile

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=NY)
REGIONS = [("CA", "+1415555"), ("NY", "+1212555"), ("MA", "+1617555"), ("WA", "+1206555"), ("TX", "+1512555")]


def synth(i: int, rng: random.Random) -> tuple[AccountProfile, list[Touch]]:
    region, prefix = REGIONS[i % len(REGIONS)]
    phone = f"{prefix}{i % 10000:04d}"
    flags = [rng.choice(["cease", "dispute", "hardship"])] if rng.random() < 0.02 else []
    days = rng.randint(1, 120)
    doc: dict[str, Any] = {
        "id": f"B-{i}",
        "contact": {
            "country": "US",
            "region": region,
            "phones": [{"number": phone, "type": "mobile", "consent": rng.random() < 0.8}],
            "flags": flags,
        },
        "loan": {
            "principal": str(rng.randint(200, 20000)),
            "due_date": (NOW.date() - timedelta(days=days)).isoformat(),
        },
        "behaviour": {"overdue_count": rng.randint(0, 5), "on_time_ratio": round(rng.random(), 2)},
        "credit": {"score": rng.randint(450, 800), "trend": rng.choice(["rising", "flat", "falling"])},
        "personal": {"income_stability": rng.choice(["stable", "variable", "unstable"])},
    }
    history = []
    for k in range(rng.randint(0, 12)):
        at = NOW - timedelta(days=rng.uniform(0.5, 30))
        channel = rng.choice(["call", "call", "sms"])
        result = rng.choice(
            ["no_answer", "busy", "answered", "delivered", "read"] if channel == "sms" or k else ["no_answer"]
        )
        if channel == "call" and result in ("delivered", "read"):
            result = "no_answer"
        entry: dict[str, Any] = {
            "at": at.isoformat(),
            "channel": channel,
            "direction": "outbound",
            "result": result,
            "phone": phone,
        }
        if channel == "call" and result == "answered" and rng.random() < 0.3:
            entry["promise"] = {"date": (at + timedelta(days=7)).date().isoformat(), "amount": "100.00"}
        history.append(entry)
    return parse_profile(doc), parse_history(history)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "plan.json"))
    args = ap.parse_args()
    rng = random.Random(7)
    tracemalloc.start()
    t0 = time.perf_counter()
    portfolio = [synth(i, rng) for i in range(args.accounts)]
    build_s = time.perf_counter() - t0
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()  # it slows Python several-fold: the planning pass runs without it
    for profile, history in portfolio[:500]:
        plan(profile, history, NOW)  # warm the zone and profile caches
    stages: Counter[str] = Counter()
    steps = 0
    rates = []
    chunk = 10_000
    started = time.perf_counter()
    for lo in range(0, len(portfolio), chunk):
        c0 = time.perf_counter()
        for profile, history in portfolio[lo : lo + chunk]:
            p = plan(profile, history, NOW)
            stages[p.stage] += 1
            steps += len(p.steps)
        rates.append(len(portfolio[lo : lo + chunk]) / (time.perf_counter() - c0))
    total_s = time.perf_counter() - started
    median = statistics.median(rates)
    doc = {
        "benchmark": "plan",
        "accounts": len(portfolio),
        "target_accounts_per_s": 5000,
        "accounts_per_s_median": round(median),
        "accounts_per_s_overall": round(len(portfolio) / total_s),
        "target_met": median >= 5000,
        "steps_per_account": round(steps / len(portfolio), 2),
        "stages": {k: round(v / len(portfolio), 3) for k, v in sorted(stages.items())},
        "portfolio_build_s": round(build_s, 1),
        "memory_mib": {
            "portfolio_held": round(held / 2**20, 1),
            "max_rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "machine": machine(),
        "at": datetime.now(NY).isoformat(timespec="seconds"),
    }
    return report(doc, args.out)


if __name__ == "__main__":
    sys.exit(main())
