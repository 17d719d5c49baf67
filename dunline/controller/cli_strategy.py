"""`dunline plan ACCOUNT.json [--history HISTORY.json] [--now ISO8601] [--json]` or
`dunline plan --account REF`: the planner's answer for one account, from a document or a stored
account (docs/strategies.md):
`{"score","tier","reasons","variant","stage","steps":[{"at","channel","template","reason"}]}`.
Exit 0 with a plan, 2 on a bad document or argument (the error names the field).

`dunline strategy plans [--now] [--dry-run] [--json]`: plan every open stored account and store the
plans (`account_plans`, what campaigns select from); exit 2 when some account could not be planned.
`dunline strategy report`: compare the variants."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import datetime
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
    from dunline.controller.cli_common import parse_now
    from dunline.strategies.history import HistoryError, parse_history
    from dunline.strategies.planner import plan
    from dunline.strategies.profile import ProfileError, parse_profile

    if (args.account is None) == (args.stored is None):
        print("error: give either ACCOUNT.json or --account REF (a stored account)", file=sys.stderr)
        return EXIT_INPUT
    if args.stored is not None and args.history:
        print("error: --history goes with ACCOUNT.json; a stored account has its own", file=sys.stderr)
        return EXIT_INPUT
    try:
        now = parse_now(args.now)
        if args.stored is not None:
            stored = _stored(args, now)
            if stored is None:
                print(f"error: no account {args.stored!r}", file=sys.stderr)
                return EXIT_INPUT
            profile, history = parse_profile(stored.document), parse_history(stored.history)
        else:
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


def _stored(args: argparse.Namespace, now: datetime) -> Any:
    """The stored account `--account REF` as a document and history, or None."""
    import asyncio

    from dunline.controller.app import database
    from dunline.controller.cli_common import settings_from
    from dunline.controller.planning import HISTORY_SPAN
    from dunline.store import profiles

    async def load() -> Any:
        async with database(settings_from(args)) as pool, pool.acquire() as conn:
            found = await profiles.account_id(conn, args.stored)
            if found is None:
                return None
            return (await profiles.load_documents(conn, [found], since=now - HISTORY_SPAN))[0]

    return asyncio.run(load())


def cmd_plans(args: argparse.Namespace) -> int:
    from dunline.controller.cli_common import database_command
    from dunline.controller.planning import plan_stored

    async def work(pool: Any, now: datetime) -> dict[str, Any]:
        return (await plan_stored(pool, now, save=not args.dry_run)).as_json()

    def lines(doc: dict[str, Any]) -> list[str]:
        verb = "planned (not stored)" if args.dry_run else "planned and stored"
        return [
            f"{doc['planned']} of {doc['accounts']} accounts {verb} in {doc['seconds']} s",
            f"  tiers: {doc['by_tier']}  stages: {doc['by_stage']}  due now: {doc['due_now']}",
            *[f"  not planned: {bad['account']}: {bad['error']}" for bad in doc["invalid"]],
        ]

    return database_command(
        args, work, lines, status=lambda doc: EXIT_OK if not doc["invalid"] else EXIT_INPUT
    )


def _facts(rows: list[dict[str, Any]]) -> list[Any]:
    from datetime import date
    from decimal import Decimal

    from dunline.strategies.report import AccountResult

    def js(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    out = []
    for r in rows:
        promises = []
        for p in js(r["promises"]):
            slots = p.get("slots") or {}
            if slots.get("date"):
                amount = Decimal(slots["amount"]) if slots.get("amount") else None
                promises.append((datetime.fromisoformat(p["at"]), date.fromisoformat(slots["date"]), amount))
        payments = [(datetime.fromisoformat(p["at"]), Decimal(str(p["amount"]))) for p in js(r["payments"])]
        out.append(
            AccountResult(
                r["account_ref"],
                r["timezone"],
                r["attempts"],
                r["contacts"],
                promises,
                payments,
                r["variant"],
            )
        )
    return out


async def _report(pool: Any, now: datetime) -> list[dict[str, Any]]:
    from dunline.store.payments import report_facts
    from dunline.strategies.report import compare

    return compare(_facts(await report_facts(pool)), now)


def _report_lines(doc: list[dict[str, Any]]) -> Iterator[str]:
    def rate(v: list[Any] | tuple[Any, ...]) -> str:
        return "-" if v[0] is None else f"{v[0]:.1%} [{v[1]:.1%}, {v[2]:.1%}]"

    for d in doc:
        yield f"{d['variant']}: {d['accounts']} accounts, {d['attempts']} attempts"
        yield f"  contact rate {rate(d['contact_rate'])}, promise rate {rate(d['promise_rate'])}"
        yield f"  kept rate {rate(d['kept_rate'])}, collected {d['collected']}"


def cmd_report(args: argparse.Namespace) -> int:
    from dunline.controller.cli_common import database_command

    return database_command(args, _report, _report_lines)


def add_strategy_commands(sub: Any) -> None:
    from dunline.controller.cli_fit import add_fit_arguments

    strategy = sub.add_parser("strategy", help="scorecards and strategy variants")
    strategy_sub = strategy.add_subparsers(dest="sub", required=True)
    add_fit_arguments(strategy_sub.add_parser("fit", help="fit the scorecard's points from past outcomes"))
    report = strategy_sub.add_parser(
        "report", help="compare strategy variants (contact, promise, kept, collected)"
    )
    report.add_argument("--now", help="reference time for promise windows (ISO 8601 with offset)")
    report.add_argument("--json", action="store_true", help="print one JSON document")
    report.set_defaults(fn=cmd_report)
    plans = strategy_sub.add_parser("plans", help="plan every open stored account and store the plans")
    plans.add_argument("--now", help="reference time, ISO 8601 with an offset (default now)")
    plans.add_argument("--dry-run", action="store_true", help="plan and report, store nothing")
    plans.add_argument("--json", action="store_true", help="print one JSON document")
    plans.set_defaults(fn=cmd_plans)

    p: argparse.ArgumentParser = sub.add_parser("plan", help="the treatment plan for one account")
    p.add_argument("account", nargs="?", help="ACCOUNT.json (docs/strategies.md)")
    p.add_argument("--account", dest="stored", metavar="REF", help="a stored account, by reference")
    p.add_argument("--history", help="HISTORY.json: contact history, the compliance history shape")
    p.add_argument("--now", help="reference time, ISO 8601 with an offset (default now)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(fn=cmd_plan)
