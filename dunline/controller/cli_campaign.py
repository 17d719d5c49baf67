"""`dunline campaign ...`: define, control and run campaigns (docs/dialer.md).

    dunline campaign create NAME --mode ivr|preview|progressive|predictive|sms [--tiers high,medium]
                                 [--stages mid,late] [--max-concurrent N] [--spec FILE.yaml]
    dunline campaign start|pause|resume|stop ID
    dunline campaign run ID [--until-idle] [--agent NUMBER ...]
    dunline campaign status ID

`run` starts the controller (PBX, database) in this process and dials until the campaign is stopped
(or, with --until-idle, until nothing is due). A second `run` of the same campaign on another
controller shares its queue (ivr mode) or waits as a follower (agent modes). Exit codes: 0 ok, 1 a
service failed, 2 bad input or a command the campaign's status does not allow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import yaml

EXIT_OK, EXIT_INPUT = 0, 2


def _out(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    print(json.dumps(doc, default=str) if args.json else text)


def _spec_doc(args: argparse.Namespace) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if args.spec:
        try:
            loaded = yaml.safe_load(Path(args.spec).read_text("utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{args.spec}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.spec}: a campaign spec is a mapping (name, mode, tiers, ...)")
        doc.update(loaded)
    doc["name"] = args.name
    if args.mode:
        doc["mode"] = args.mode
    if args.tiers:
        doc["tiers"] = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if args.stages:
        doc["stages"] = [s.strip() for s in args.stages.split(",") if s.strip()]
    if args.max_concurrent:
        doc["max_concurrent"] = args.max_concurrent
    return doc


def cmd_create(args: argparse.Namespace) -> int:
    from dunline.controller.app import database
    from dunline.controller.cli_common import settings_from
    from dunline.dialer.campaign_spec import CampaignSpecError, parse_spec
    from dunline.store import campaigns

    try:
        spec = parse_spec(_spec_doc(args))
    except (ValueError, CampaignSpecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT

    async def create() -> int:
        async with database(settings_from(args)) as pool, pool.acquire() as conn:
            return await campaigns.create(conn, spec.model_dump(mode="json"))

    cid = asyncio.run(create())
    _out(
        args, {"campaign": cid, "spec": spec.model_dump(mode="json")}, f"campaign {cid} created ({spec.mode})"
    )
    return EXIT_OK


def cmd_move(args: argparse.Namespace) -> int:
    from dunline.controller.app import database
    from dunline.controller.cli_common import settings_from
    from dunline.store import campaigns

    async def move() -> str:
        async with database(settings_from(args)) as pool, pool.acquire() as conn:
            return await campaigns.move(conn, args.id, args.command_name)

    try:
        status = asyncio.run(move())
    except campaigns.CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    _out(args, {"campaign": args.id, "status": status}, f"campaign {args.id}: {status}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from dunline.controller.app import database
    from dunline.controller.cli_common import settings_from
    from dunline.store import campaigns

    async def read() -> dict[str, Any] | None:
        now = datetime.now(UTC)
        async with database(settings_from(args)) as pool, pool.acquire() as conn:
            found = await campaigns.get(conn, args.id)
            if found is None:
                return None
            abandons, live = await campaigns.abandon_counts(conn, args.id, now - timedelta(days=30))
            return {
                "campaign": args.id,
                "name": found["name"],
                "mode": found["mode"],
                "status": found["status"],
                "members": await campaigns.pending(conn, args.id, now),
                "results": await campaigns.results(conn, args.id),
                "abandon_rate_30d": round(abandons / live, 4) if live else None,
                "abandons_30d": abandons,
                "live_answers_30d": live,
            }

    doc = asyncio.run(read())
    if doc is None:
        print(f"error: no campaign {args.id}", file=sys.stderr)
        return EXIT_INPUT
    text = (
        f"campaign {doc['campaign']} {doc['name']} ({doc['mode']}): {doc['status']}\n"
        f"  members {doc['members']}\n  results {doc['results']}\n"
        f"  abandons (30 days) {doc['abandons_30d']} of {doc['live_answers_30d']} live answers"
    )
    _out(args, doc, text)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from dunline.controller.app import Controller
    from dunline.controller.campaigns import run_stored
    from dunline.controller.cli_common import settings_from
    from dunline.store import campaigns

    async def run() -> dict[str, Any]:
        async with Controller(settings_from(args)) as rt:
            summary = await run_stored(rt, args.id, until_idle=args.until_idle, agents=args.agent or [])
            return summary.as_json()

    try:
        doc = asyncio.run(run())
    except campaigns.CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    text = (
        f"campaign {doc['campaign']}: {doc['status']}; {doc['placed']} calls placed, results {doc['results']}"
    )
    _out(args, doc, text)
    return EXIT_OK


def add_campaign_commands(sub: Any) -> None:
    camp = sub.add_parser("campaign", help="define, control and run dialing campaigns")
    cs = camp.add_subparsers(dest="sub", required=True)

    def leaf(name: str, fn: Any, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = cs.add_parser(name, help=help_)
        p.add_argument("--json", action="store_true", help="print one JSON document")
        p.set_defaults(fn=fn)
        return p

    create = leaf("create", cmd_create, "define a campaign (status created)")
    create.add_argument("name")
    create.add_argument("--mode", choices=["ivr", "preview", "progressive", "predictive", "sms"])
    create.add_argument("--tiers", help="comma-separated risk tiers (default: all)")
    create.add_argument("--stages", help="comma-separated plan stages (default: early,mid,late,hardship)")
    create.add_argument("--max-concurrent", type=int, help="calls at once (ivr mode)")
    create.add_argument("--spec", help="a YAML campaign spec (retries, abandon target ...)")
    for name, help_ in (
        ("start", "mark the campaign running"),
        ("pause", "stop placing new calls (calls in progress finish)"),
        ("resume", "place calls again"),
        ("stop", "stop the campaign (queued accounts stay queued)"),
    ):
        p = leaf(name, cmd_move, help_)
        p.add_argument("id", type=int)
        p.set_defaults(command_name=name)
    status = leaf("status", cmd_status, "members, results and the abandon rate")
    status.add_argument("id", type=int)
    run = leaf("run", cmd_run, "run the campaign on this controller")
    run.add_argument("id", type=int)
    run.add_argument("--until-idle", action="store_true", help="return when nothing is due or in flight")
    run.add_argument("--agent", action="append", help="an agent's phone number to log in (agent modes)")
