"""`dunline simulate pacing`: one simulated campaign day for a pacer (dunline/dialer/simulator.py).

    dunline simulate pacing --algorithm dunline|vicidial|issabel
        [--vicidial-method ADAPT_TAPERED|ADAPT_HARD_LIMIT|ADAPT_AVERAGE] --agents N --hours H
        --answer-rate P --talk-mean S [--wrap-mean S] [--machine-rate P] [--seed K] [--json]

`--json` prints one document that starts with `{"algorithm", "agent_occupancy",
"talk_minutes_per_agent_hour", "abandon_rate", "max_abandon_rate_any_window", "first_hour_abandon_rate",
"calls_placed", "answered", "idle_gap_s_p50"}` (more keys follow; dunline/dialer/sim_metrics.py defines
them all). Exit 0 with a result, 2 on a bad argument (one line naming it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_INPUT = 0, 2
MAX_AGENTS = 1000
MAX_HOURS = 15.0  # one calendar day from 09:00: VICIdial counts its drops per day


def validate(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments, as a message naming the argument; None when they are fine."""
    checks = [
        (args.agents < 1, f"--agents must be at least 1 (got {args.agents})"),
        (args.agents > MAX_AGENTS, f"--agents must be at most {MAX_AGENTS} (got {args.agents})"),
        (not 0 < args.hours <= MAX_HOURS, f"--hours must be in (0, {MAX_HOURS:g}] (got {args.hours:g})"),
        (not 0 < args.answer_rate <= 1, f"--answer-rate must be in (0, 1] (got {args.answer_rate:g})"),
        (not args.talk_mean > 0, f"--talk-mean must be > 0 seconds (got {args.talk_mean:g})"),
        (not args.wrap_mean >= 0, f"--wrap-mean must be >= 0 seconds (got {args.wrap_mean:g})"),
        (not 0 <= args.machine_rate < 1, f"--machine-rate must be in [0, 1) (got {args.machine_rate:g})"),
    ]
    return next((message for bad, message in checks if bad), None)


def cmd_simulate_pacing(args: argparse.Namespace) -> int:
    from dunline.dialer.simulator import Traffic, simulate

    problem = validate(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INPUT
    traffic = Traffic(
        agents=args.agents,
        hours=args.hours,
        answer_rate=args.answer_rate,
        talk_mean=args.talk_mean,
        wrap_mean=args.wrap_mean,
        machine_rate=args.machine_rate,
        seed=args.seed,
    )
    doc = simulate(traffic, args.algorithm, args.vicidial_method)
    if args.json:
        print(json.dumps(doc))
        return EXIT_OK
    name = doc["algorithm"] + (f" ({doc['vicidial_method']})" if "vicidial_method" in doc else "")
    print(f"{name}: {args.agents} agents, {args.hours:g} h, answer rate {args.answer_rate:g}")
    print(
        f"  occupancy {doc['agent_occupancy']:.1%} ({doc['talk_minutes_per_agent_hour']:.1f} talk min per "
        f"agent hour), idle gap p50 {doc['idle_gap_s_p50']:.1f} s"
    )
    print(
        f"  abandons {doc['abandon_rate']:.2%} overall, {doc['max_abandon_rate_any_window']:.2%} in the "
        f"worst window, {doc['first_hour_abandon_rate']:.2%} in the first hour"
    )
    print(f"  {doc['calls_placed']} calls placed, {doc['answered']} answered ({doc['live_answers']} live)")
    return EXIT_OK


def add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    from dunline.dialer.baselines import VICIDIAL_METHODS
    from dunline.dialer.simulator import ALGORITHMS

    p.add_argument("--algorithm", required=True, choices=ALGORITHMS, help="the pacer to simulate")
    p.add_argument(
        "--vicidial-method", default="ADAPT_TAPERED", choices=VICIDIAL_METHODS, help="VICIdial's dial method"
    )
    p.add_argument("--agents", type=int, required=True, help="agents logged in for the whole run")
    p.add_argument(
        "--hours", type=float, required=True, help="simulated hours (the campaign starts at 09:00)"
    )
    p.add_argument(
        "--answer-rate", type=float, required=True, help="share of calls answered (humans + machines)"
    )
    p.add_argument("--talk-mean", type=float, required=True, help="mean talk time, seconds (lognormal)")
    p.add_argument(
        "--wrap-mean", type=float, default=15.0, help="mean wrap-up, seconds (0: none; default 15)"
    )
    p.add_argument("--machine-rate", type=float, default=0.2, help="share of answers that are machines (0.2)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(fn=cmd_simulate_pacing)


def add_simulate_commands(sub: Any) -> None:
    simulate = sub.add_parser("simulate", help="simulate the dialer on synthetic traffic")
    simulate_sub = simulate.add_subparsers(dest="sub", required=True)
    add_simulate_arguments(
        simulate_sub.add_parser("pacing", help="one campaign day for a pacer: occupancy and abandons")
    )
