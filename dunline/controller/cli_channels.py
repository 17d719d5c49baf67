"""Letters, plan steps and evidence from the command line.

    dunline letters make ACCOUNT TEMPLATE [--now T]   one letter (a letter script, or validation_notice)
    dunline letters export [--out DIR] [--now T]      queued letters -> a dated print-and-mail folder
    dunline letters report LETTER_ID delivered|returned [--note TEXT]   the mail house's answer
    dunline steps run [--now T]                       carry out the text and letter steps due now (once)
    dunline evidence ACCOUNT --out FILE.zip           the account's evidence bundle (BagIt, zipped)

Exit 0 done, 2 bad input (unknown account, letter or template), 1 when a service fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from dunline.controller.cli_common import database_command, settings_from

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


def _dumps(doc: Any) -> str:
    return json.dumps(doc, default=str, ensure_ascii=False)


def cmd_make(args: argparse.Namespace) -> int:
    from dunline.channels.letters import LetterService

    settings = settings_from(args)

    async def work(pool: Any, now: datetime) -> dict[str, Any]:
        aid = await pool.fetchval("SELECT id FROM accounts WHERE account_ref = $1", args.account)
        if aid is None:
            return {"result": "no_account", "why": f"no account {args.account!r}"}
        made = await LetterService(pool, settings).make(aid, args.template, step_key=None, now=now)
        verdict = made.verdict
        return {
            "result": made.result,
            "letter": made.letter_id,
            "why": made.why or (", ".join(verdict.reasons) if verdict and not verdict.allowed else ""),
        }

    def lines(doc: dict[str, Any]) -> list[str]:
        if doc["result"] == "sent":
            return [f"letter {doc['letter']} queued for the next print-and-mail export"]
        return [f"no letter: {doc['result']} {doc['why']}".rstrip()]

    return database_command(
        args, work, lines, dumps=_dumps, status=lambda d: EXIT_OK if d["result"] == "sent" else EXIT_INPUT
    )


def cmd_export(args: argparse.Namespace) -> int:
    from dunline.channels.letters import LetterService

    settings = settings_from(args)
    out = Path(args.out) if args.out else settings.var_dir / settings.letters.export_dir

    async def work(pool: Any, now: datetime) -> dict[str, Any]:
        return await LetterService(pool, settings).export(out, now)

    def lines(doc: dict[str, Any]) -> list[str]:
        if not doc["letters"]:
            return ["no letters queued"]
        return [f"{doc['letters']} letter(s) in {doc['folder']} (manifest.csv lists them)"]

    return database_command(args, work, lines, dumps=_dumps)


def cmd_report(args: argparse.Namespace) -> int:
    from dunline.channels.letters import LetterService

    try:
        letter = uuid.UUID(args.letter)
    except ValueError:
        print(f"error: {args.letter!r} is not a letter id (a UUID)", file=sys.stderr)
        return EXIT_INPUT
    settings = settings_from(args)

    async def work(pool: Any, now: datetime) -> dict[str, Any]:
        done = await LetterService(pool, settings).report(letter, args.state, now, args.note)
        return {"letter": letter, "state": args.state, "recorded": done}

    def lines(doc: dict[str, Any]) -> list[str]:
        if doc["recorded"]:
            return [f"letter {letter}: {args.state} recorded"]
        return [f"error: letter {letter} is unknown or not out for delivery (nothing recorded)"]

    return database_command(
        args, work, lines, dumps=_dumps, status=lambda d: EXIT_OK if d["recorded"] else EXIT_INPUT
    )


def cmd_steps(args: argparse.Namespace) -> int:
    from dunline.channels.letters import LetterService
    from dunline.channels.steps import StepRunner
    from dunline.controller.planning import replan

    settings = settings_from(args)

    async def work(pool: Any, now: datetime) -> dict[str, Any]:
        runner = StepRunner(
            pool,
            LetterService(pool, settings),
            lambda: now,
            replan=lambda accounts, at: replan(pool, accounts, at),
            batch=settings.steps.batch,
        )
        total: dict[str, int] = {}
        while True:  # every step due now, one batch at a time
            done = await runner.run_once()
            for k, v in done["results"].items():
                total[k] = total.get(k, 0) + v
            if done["claimed"] < runner.batch:
                return {"results": total, "note": "texts are sent by `dunline serve` (the SMS link)"}

    def lines(doc: dict[str, Any]) -> list[str]:
        got = ", ".join(f"{k} {v}" for k, v in sorted(doc["results"].items())) or "nothing due"
        return [f"letter steps: {got}", doc["note"]]

    return database_command(args, work, lines, dumps=_dumps)


def cmd_evidence(args: argparse.Namespace) -> int:
    from dunline.channels.evidence import EvidenceError, build, gather
    from dunline.controller.app import database
    from dunline.controller.asterisk import recordings_dir

    settings = settings_from(args)
    recordings = recordings_dir(settings)

    async def run() -> Any:
        async with database(settings) as pool, pool.acquire() as conn:
            return await gather(conn, args.account, recordings)

    try:
        case = asyncio.run(run())
    except EvidenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        doc = build(case, Path(args.out), settings)
    except OSError as exc:
        print(f"error: {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(_dumps(doc))
    else:
        print(f"{doc['out']}: {doc['items']} items, {doc['bytes']} bytes, index {doc['index_pages']} page(s)")
    return EXIT_OK


def add_channel_commands(sub: Any) -> None:
    def leaf(parent: Any, name: str, fn: Any, help_: str, *, now: bool = True) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        if now:
            sp.add_argument("--now", help="reference time (ISO 8601 with offset; default now)")
        sp.set_defaults(fn=fn)
        return sp

    letters = sub.add_parser("letters", help="letters and their print-and-mail export")
    lsub = letters.add_subparsers(dest="sub", required=True)
    make = leaf(lsub, "make", cmd_make, "make one letter for an account (through the gate)")
    make.add_argument("account", help="account reference")
    make.add_argument("template", help="a letter script (plan_offer_letter, ...) or validation_notice")
    export = leaf(lsub, "export", cmd_export, "queued letters into a dated print-and-mail folder")
    export.add_argument("--out", help="where batches go (default: var_dir/letters.export_dir)")
    report = leaf(lsub, "report", cmd_report, "record the mail house's answer on a letter")
    report.add_argument("letter", help="the letter id (manifest.csv's letter_id)")
    report.add_argument("state", choices=["delivered", "returned"])
    report.add_argument("--note", help="the mail house's words (returned: why)")
    steps = sub.add_parser("steps", help="the plans' text and letter steps").add_subparsers(
        dest="sub", required=True
    )
    leaf(steps, "run", cmd_steps, "carry out the letter steps due now, once")
    ev = leaf(sub, "evidence", cmd_evidence, "an account's evidence bundle (BagIt zip)", now=False)
    ev.add_argument("account", help="account reference")
    ev.add_argument("--out", required=True, help="the .zip to write")
