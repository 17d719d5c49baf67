"""Pacing at equal abandons: where bench/pacing.py's target was missed, how Dunline's pacer does when
it may abandon as many calls as VICIdial ADAPT_TAPERED did in that cell.

bench/pacing.py holds Dunline to 3 % in every window while VICIdial abandons 7-53 % of live answers in
the small-team cells. This run reads bench/results/pacing.json and, for each cell that missed the
target, simulates the same traffic (same seed) with Dunline's cap set to VICIdial's realised whole-day
abandon rate (still held in every window, the first hour included, so Dunline stays the stricter of
the two). It answers whether the shortfall is the pacer's prediction or the cap. A what-if study only:
the shipped pacer's cap is 3 %. Prints JSON; writes bench/results/pacing_equal.json.

    .venv/bin/python bench/pacing_equal.py [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from dunline.dialer.simulator import Traffic, simulate

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, report

RESULTS = Path(__file__).parent / "results"


def run_one(job: tuple[dict[str, Any], float, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    cell, hours, seed = job
    target = max(0.001, min(0.9, cell["vicidial"]["abandon_rate"]))
    traffic = Traffic(
        agents=cell["agents"],
        hours=hours,
        answer_rate=cell["answer_rate"],
        talk_mean=cell["talk_mean"],
        seed=seed,
    )
    started = time.perf_counter()
    doc = simulate(traffic, "dunline", target=target)
    doc["run_s"] = round(time.perf_counter() - started, 1)
    doc["target"] = round(target, 4)
    return cell, doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "pacing_equal.json"))
    args = ap.parse_args()
    base = json.loads((RESULTS / "pacing.json").read_text("utf-8"))
    missed = [c for c in base["grid"] if not c["target_met"]]
    started = time.perf_counter()
    rows = []
    with Pool(args.workers) as pool:
        for cell, doc in pool.imap_unordered(
            run_one, [(c, base["hours_per_run"], base["seed"]) for c in missed]
        ):
            vici = cell["vicidial"]
            rows.append(
                {
                    "agents": cell["agents"],
                    "answer_rate": cell["answer_rate"],
                    "talk_mean": cell["talk_mean"],
                    "cap": doc["target"],
                    "occupancy": {
                        "vicidial": vici["agent_occupancy"],
                        "dunline_3pct": cell["dunline"]["agent_occupancy"],
                        "dunline_equal": doc["agent_occupancy"],
                    },
                    "abandon_rate": {
                        "vicidial": vici["abandon_rate"],
                        "dunline_equal": doc["abandon_rate"],
                    },
                    "worst_window": {
                        "vicidial": vici["max_abandon_rate_any_window"],
                        "dunline_equal": doc["max_abandon_rate_any_window"],
                    },
                    "points_over_vicidial_equal": round(
                        100.0 * (doc["agent_occupancy"] - vici["agent_occupancy"]), 1
                    ),
                    "run_s": doc["run_s"],
                }
            )
    rows.sort(key=lambda r: (r["agents"], r["answer_rate"], r["talk_mean"]))
    points = [r["points_over_vicidial_equal"] for r in rows]
    doc = {
        "benchmark": "pacing_equal_abandons",
        "from": "bench/results/pacing.json (" + base["at"] + ")",
        "hours_per_run": base["hours_per_run"],
        "seed": base["seed"],
        "cells": len(rows),
        "summary": {
            "median_points_over_vicidial_at_equal_abandons": round(statistics.median(points), 1)
            if rows
            else None,
            "cells_at_least_5_points": sum(p >= 5.0 for p in points),
            "cells_below_vicidial": sum(p < 0.0 for p in points),
            "wall_s": round(time.perf_counter() - started, 1),
        },
        "grid": rows,
        "machine": machine(),
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    return report(doc, args.out)


if __name__ == "__main__":
    sys.exit(main())
