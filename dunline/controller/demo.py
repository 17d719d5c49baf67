"""`dunline demo`: a short real campaign on the embedded defaults.

Provision and start Asterisk (PBX + carrier simulator), start the embedded PostgreSQL and migrate,
import the sample portfolio, call six simulated debtors (pays, plan, dispute, busy, no answer,
voicemail) through the real trunk, print what happened, and stop everything the demo started.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dunline.config.schema import Settings
from dunline.controller import asterisk
from dunline.controller.app import Controller, run_campaign
from dunline.controller.clocks import earliest_lawful, starting_at
from dunline.portfolio.report import import_file
from dunline.store.accounts import list_dialable
from dunline.store.embedded import server_pid, stop_embedded

DEMO_ZONE = ZoneInfo("America/Los_Angeles")  # where the sample debtors live
DEMO_NUMBERS = (
    "+14155550101",
    "+14155550102",
    "+14155550103",
    "+14155550104",
    "+14155550105",
    "+14155550106",
)


def sample_portfolio() -> Path:
    return Path(str(resources.files("dunline.portfolio").joinpath("sample_portfolio.csv")))


def mask_number(number: str) -> str:
    return f"{number[:2]}******{number[-4:]}" if len(number) > 6 else "***"


async def run_demo(settings: Settings, *, keep: bool = False) -> dict[str, Any]:
    t0 = time.monotonic()
    before = await asyncio.to_thread(asterisk.status, settings)
    pg_before = server_pid(settings.var_dir / "pg") is not None
    try:
        async with Controller(settings) as rt:
            await import_file(
                rt.pool, sample_portfolio(), default_region=settings.dialer.default_region, upsert=True
            )
            accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 in DEMO_NUMBERS]
            accounts.sort(key=lambda a: DEMO_NUMBERS.index(a.phone_e164 or ""))
            real = datetime.now(UTC)
            start = await earliest_lawful(
                rt.pool, accounts, kind=rt.dialer.kind, caller_id=settings.trunk.caller_id, after=real
            )
            if start > real:  # outside calling hours, or inside a 7-day rule from the last demo run
                rt.dialer.clock = starting_at(start)
            results = await run_campaign(rt, "demo", accounts)
    finally:
        if not keep:
            await asyncio.to_thread(_stop_started, settings, before, pg_before)
    calls = [
        {
            "account": r.account_ref,
            "number": r.number,
            "result": r.result,
            "outcome": r.outcome,
            "attempt_id": r.attempt_id,
            "blocked_by": list(r.blocked_by),
            "next_allowed_at": r.next_allowed_at.isoformat() if r.next_allowed_at else None,
        }
        for r in results
    ]
    clock = {"simulated": start > real, "start": start.astimezone(DEMO_ZONE).isoformat(timespec="minutes")}
    return {"calls": calls, "clock": clock, "duration_s": round(time.monotonic() - t0, 2)}


def _stop_started(settings: Settings, before: dict[str, Any], pg_before: bool) -> None:
    binary = asterisk.provision(settings)
    for inst in asterisk.instances(settings, binary):
        if not before.get(inst.name, {}).get("running"):
            asterisk.stop(inst)
    if not pg_before:
        stop_embedded(settings.var_dir / "pg")


def render_table(doc: dict[str, Any]) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Dunline demo: {len(doc['calls'])} calls in {doc['duration_s']:.1f} s")
    for col in ("account", "number", "result", "outcome", "attempt"):
        table.add_column(col)
    for c in doc["calls"]:
        outcome = c["outcome"] or ("blocked by " + ", ".join(c["blocked_by"]) if c["blocked_by"] else "-")
        attempt = c["attempt_id"][:8] if c["attempt_id"] else "-"
        table.add_row(c["account"], mask_number(c["number"]), c["result"], outcome, attempt)
    buf = StringIO()
    Console(file=buf, width=100, force_terminal=False).print(table)
    note = ""
    if doc["clock"]["simulated"]:
        note = (
            f"\nSimulated clock from {doc['clock']['start']}: the earliest time the compliance gate allows"
            " these calls (calling hours, 7-day rules after the last demo run)."
        )
    return buf.getvalue().rstrip() + note
