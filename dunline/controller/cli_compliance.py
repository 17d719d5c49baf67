"""`dunline compliance ...` and `dunline audit ACCOUNT`: the compliance officer's commands.

    dunline compliance check SCENARIO.json [--json]   the gate's verdict on one scenario (docs/compliance.md)
    dunline compliance profiles [--json]              the jurisdiction profiles and their rules
    dunline compliance purge [--dry-run] [--now T]    delete contact records past their retention
    dunline compliance flag ACCOUNT FLAG [--lift] --reason TEXT   set or lift a hold, audited
    dunline audit ACCOUNT [--json]                    contact history with every decision of the gate

Exit 0 with a verdict (allowed or not), 2 on a bad scenario or argument, 1 when a service fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


def _json(doc: Any) -> str:
    return json.dumps(doc, default=str, ensure_ascii=False)


def _out(args: argparse.Namespace, doc: Any, text: str) -> None:
    print(_json(doc) if args.json else text)


def cmd_check(args: argparse.Namespace) -> int:
    from dunline.compliance.gate import check
    from dunline.compliance.scenario import ScenarioError, parse_scenario

    path = Path(args.scenario)
    try:
        raw = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        print(f"error: {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        print(f"error: {path}: not JSON: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        attempt, ledger, flags, now = parse_scenario(raw)
    except ScenarioError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    verdict = check(attempt, ledger, flags, now)
    doc = verdict.as_json()
    if verdict.allowed:
        text = f"allowed ({', '.join(verdict.profiles)})"
    else:
        when = doc["next_allowed_at"] or "never (a new fact is needed)"
        text = "\n".join(["blocked", *[f"  {r}" for r in verdict.reasons], f"next allowed: {when}"])
    _out(args, doc, text)
    return EXIT_OK


def cmd_profiles(args: argparse.Namespace) -> int:
    from dunline.compliance.profiles import default_profiles, summary

    doc = summary(default_profiles())
    lines = []
    for p in doc:
        lines.append(f"{p['id']}: {p['title']}")
        lines += [f"  {r['id']} ({r['type']}) {r['source']}" for r in p["rules"]]
    _out(args, doc, "\n".join(lines))
    return EXIT_OK


async def _audit(args: argparse.Namespace) -> dict[str, Any] | None:
    from dunline.controller.app import database
    from dunline.store.contacts import audit_trail

    async with database(_settings(args)) as pool:
        return await audit_trail(pool, args.account)


def cmd_audit(args: argparse.Namespace) -> int:
    from dunline.compliance.model import mask_number

    doc = asyncio.run(_audit(args))
    if doc is None:
        print(f"error: no account {args.account!r}", file=sys.stderr)
        return EXIT_INPUT
    for d in doc["decisions"]:
        d["number_e164"] = mask_number(d["number_e164"])  # the audit view masks numbers too
    lines = [f"{doc['account']} ({doc['country']}/{doc['region'] or '-'}) flags: {doc['flags'] or '-'}"]
    for d in doc["decisions"]:
        head = f"{d['at']:%Y-%m-%d %H:%M %Z} {d['channel']} {d['number_e164']} {d['kind']}"
        if d["allowed"]:
            outcome = ",".join(d["outcomes"] or []) or "-"
            lines.append(f"  {head}: allowed -> {d['state']} {d['result'] or ''} outcome {outcome}")
        else:
            lines.append(
                f"  {head}: BLOCKED by {', '.join(d['rules'])}; next {d['next_allowed_at'] or 'never'}"
            )
            lines += [f"      {r}" for r in d["reasons"]]
    _out(args, doc, "\n".join(lines))
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    from dunline.controller.asterisk import recordings_dir
    from dunline.controller.cli_common import database_command
    from dunline.controller.retention import purge

    folder = recordings_dir(_settings(args))

    async def work(pool: Any, now: datetime) -> dict[str, Any]:
        return await purge(pool, now, dry_run=args.dry_run, recordings=folder)

    def lines(doc: dict[str, Any]) -> list[str]:
        verb = "would purge" if args.dry_run else "purged"
        return [f"{verb} {len(doc['purged'])} account(s); kept {doc['kept']}"]

    return database_command(args, work, lines, dumps=_json)


async def _flag(args: argparse.Namespace) -> list[str] | None:
    from dunline.controller.app import database
    from dunline.store.contacts import change_flag

    async with database(_settings(args)) as pool:
        return await change_flag(
            pool, args.account, args.flag, lift=args.lift, actor="cli", reason=args.reason
        )


def cmd_flag(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        print("error: --reason must say why (it goes to the audit log)", file=sys.stderr)
        return EXIT_INPUT
    flags = asyncio.run(_flag(args))
    if flags is None:
        print(f"error: no account {args.account!r}", file=sys.stderr)
        return EXIT_INPUT
    verb = "lifted" if args.lift else "set"
    _out(
        args, {"account": args.account, "flags": flags}, f"{args.account}: {args.flag} {verb}; flags {flags}"
    )
    return EXIT_OK


def _settings(args: argparse.Namespace) -> Any:
    from dunline.controller.cli_common import settings_from

    return settings_from(args)


def add_compliance_commands(sub: Any) -> None:
    def leaf(parent: Any, name: str, fn: Any, help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        sp.set_defaults(fn=fn)
        return sp

    comp = sub.add_parser("compliance", help="the compliance gate").add_subparsers(dest="sub", required=True)
    leaf(comp, "check", cmd_check, "the gate's verdict on a scenario file").add_argument("scenario")
    leaf(comp, "profiles", cmd_profiles, "list jurisdiction profiles and rules")
    purge = leaf(comp, "purge", cmd_purge, "delete contact records older than their retention period")
    purge.add_argument("--dry-run", action="store_true", help="report what would be deleted")
    purge.add_argument("--now", help="reference time (ISO 8601 with offset; default now)")
    flag = leaf(comp, "flag", cmd_flag, "set or lift an account hold (cease, attorney, dispute, hardship)")
    flag.add_argument("account", help="account reference")
    flag.add_argument("flag", help="the flag, e.g. dispute")
    flag.add_argument("--lift", action="store_true", help="lift the flag instead of setting it")
    flag.add_argument("--reason", required=True, help="why (kept in the audit log)")
    audit = leaf(sub, "audit", cmd_audit, "an account's contact history with each gate decision")
    audit.add_argument("account", help="account reference")
