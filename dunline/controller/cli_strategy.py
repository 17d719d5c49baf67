"""`dunline plan ACCOUNT.json [--history HISTORY.json] [--now ISO8601] [--json]`: the planner's answer
for one account (docs/strategies.md):
`{"score","tier","reasons","variant","stage","steps":[{"at","channel","template","reason"}]}`.
Exit 0 with a plan, 2 on a bad document or argument (the error names the field)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INPUT = 0, 2


def _read(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None


def cmd_plan(args: argparse.Namespace) -> int:
    from dunline.strategies.history import HistoryError, parse_history
    from dunline.strategies.planner import plan
    from dunline.strategies.profile import ProfileError, parse_profile

    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError(f"--now {args.now!r} needs an offset")
        profile = parse_profile(_read(args.account))
        history = parse_history(_read(args.history)) if args.history else []
    except (ValueError, ProfileError, HistoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    result = plan(profile, history, now)
    doc = result.as_json()
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return EXIT_OK
    head = f"score {doc['score']} ({doc['tier']} risk), variant {doc['variant']}, stage {doc['stage']}"
    print(f"{profile.id}: {head}")
    for r in doc["reasons"]:
        print(f"  - {r}")
    for s in doc["steps"]:
        print(f"  {s['at']}  {s['channel']:<10} {s['template']:<22} {s['reason']}")
    return EXIT_OK


def add_strategy_commands(sub: Any) -> None:
    from dunline.controller.cli_fit import add_fit_arguments

    strategy = sub.add_parser("strategy", help="scorecards and strategy variants")
    strategy_sub = strategy.add_subparsers(dest="sub", required=True)
    add_fit_arguments(strategy_sub.add_parser("fit", help="fit the scorecard's points from past outcomes"))

    p: argparse.ArgumentParser = sub.add_parser("plan", help="the treatment plan for one account")
    p.add_argument("account", help="ACCOUNT.json (docs/strategies.md)")
    p.add_argument("--history", help="HISTORY.json: contact history, the compliance history shape")
    p.add_argument("--now", help="reference time, ISO 8601 with an offset (default now)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(fn=cmd_plan)
