"""`dunline demo`: a short real campaign on the embedded defaults.

Provision and start Asterisk (PBX + carrier simulator), start the embedded PostgreSQL and migrate,
import the sample portfolio, call six simulated debtors who use the keypad (pays, plan, dispute, busy,
no answer, voicemail) and two who answer by voice (one in English, one in Mandarin: Whisper hears them,
the intent classifier reads them, the promise is read back and confirmed) through the real trunk, print
what happened and what each voice debtor said and was understood to mean, and stop everything the demo
started.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

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
# debtors who answer by voice (tests/fixtures/carrier/scenarios.yaml): needs `speech.enabled` (the default)
VOICE_NUMBERS = ("+14155550113", "+8613800138001")


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
            numbers = DEMO_NUMBERS + (VOICE_NUMBERS if settings.speech.enabled else ())
            accounts = [a for a in await list_dialable(rt.pool, 1000) if a.phone_e164 in numbers]
            accounts.sort(key=lambda a: numbers.index(a.phone_e164 or ""))
            real = datetime.now(UTC)
            start = await earliest_lawful(
                rt.pool, accounts, kind=rt.dialer.kind, caller_id=settings.trunk.caller_id, after=real
            )
            if start > real:  # outside calling hours, or inside a 7-day rule from the last demo run
                rt.dialer.clock = starting_at(start)
            results = await run_campaign(rt, "demo", accounts)
            heard = await heard_in(rt.pool, [r.attempt_id for r in results])
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
            "heard": heard.get(r.attempt_id or "", []),
        }
        for r in results
    ]
    clock = {"simulated": start > real, "start": start.astimezone(DEMO_ZONE).isoformat(timespec="minutes")}
    return {"calls": calls, "clock": clock, "duration_s": round(time.monotonic() - t0, 2)}


async def heard_in(pool: asyncpg.Pool, attempt_ids: list[str | None]) -> dict[str, list[dict[str, str]]]:
    """What each voice debtor said (the recogniser's text) and what it was understood as, per attempt,
    from the IVR session the call stored in the contact ledger."""
    ids = [uuid.UUID(a) for a in attempt_ids if a]
    rows = await pool.fetch(
        "SELECT attempt_id, detail FROM contact_ledger WHERE attempt_id = ANY($1) AND event = 'ivr.session'",
        ids,
    )
    out: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        said = [
            {"text": str(h.get("text", "")), "intent": str(h.get("intent", ""))}
            for h in (row["detail"] or {}).get("heard", [])
        ]
        if said:
            out[str(row["attempt_id"])] = said
    return out


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
    console = Console(file=buf, width=100, force_terminal=False)
    console.print(table)
    spoken = [c for c in doc["calls"] if c.get("heard")]
    if spoken:
        voices = Table(title="What the voice debtors said, and what Dunline understood")
        for col in ("account", "said (as Whisper heard it)", "understood"):
            voices.add_column(col)
        for c in spoken:
            for h in c["heard"]:
                voices.add_row(c["account"], h["text"] or "(not recognised)", h["intent"])
        console.print(voices)
    note = ""
    if doc["clock"]["simulated"]:
        note = (
            f"\nSimulated clock from {doc['clock']['start']}: the earliest time the compliance gate allows"
            " these calls (calling hours, 7-day rules after the last demo run)."
        )
    return buf.getvalue().rstrip() + note
