"""Making, exporting and tracking letters: a plan step's letter (its script filled for the account and
laid out as PDF/A, `channels.letters`), the US validation notice, the print-and-mail batches.

`make` renders first (no lock held), then asks the gate (channel `letter`) and, only when it allows,
stores the letter and its ledger entry in the same transaction: idempotent by the step key, so a
restart never makes a step's letter twice. `export` writes every queued letter into a dated folder
with a manifest CSV for the mail house and records each one's dispatch; `report` records the mail
house's delivered / returned answer.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import logging
import os
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from dunline.channels import letter_layout as layout
from dunline.channels.letter_layout import Letter, LetterError, Party, Row, long_date, money
from dunline.channels.values import StepValues, step_values
from dunline.compliance.model import Verdict
from dunline.config.schema import Settings
from dunline.dialer.clearance import judge_step
from dunline.store import letters as store
from dunline.store.accounts import AccountView, load_account
from dunline.strategies.scripts import ScriptError, load_scripts, render

log = logging.getLogger("dunline.letters")
VALIDATION = "validation_notice"
MANIFEST_FIELDS = ("letter_id", "file", "sha256", "pages", "account", "template", "language", "recipient",
                   "address_line", "city", "region", "country")  # fmt: skip


@dataclass(frozen=True)
class Made:
    result: str  # sent | blocked | no_text | no_address | no_account
    letter_id: uuid.UUID | None = None
    verdict: Verdict | None = None
    new: bool = False
    why: str = ""


def masked_ref(ref: str) -> str:
    return "…" + ref[-4:] if len(ref) > 4 else ref


async def _address(conn: asyncpg.Connection | asyncpg.Pool, account_id: int) -> tuple[str, ...]:
    row = await conn.fetchrow(
        "SELECT d.address_line, d.city, d.region, d.country FROM accounts a JOIN debtors d"
        " ON d.id = a.debtor_id WHERE a.id = $1",
        account_id,
    )
    if row is None or not row["address_line"]:
        return ()
    place = " ".join(x for x in (row["city"], row["region"]) if x)
    return tuple(x for x in (row["address_line"], place, row["country"]) if x)


def _sender(settings: Settings) -> Party:
    name = settings.letters.sender_name or settings.ivr.company_name
    return Party(name, tuple(settings.letters.sender_address), settings.ivr.callback_number)


def script_letter(
    acc: AccountView, template: str, sv: StepValues, settings: Settings, address: tuple[str, ...], day: date
) -> Letter:
    script = load_scripts(sv.lang)[template]
    if script.channel != "letter":
        raise ScriptError(f"{template} is a {script.channel} script, not a letter")
    body = render(script, sv.values)
    rows: tuple[Row, ...] = ()
    total = ""
    if sv.offer is not None and "plan_amount" in script.placeholders:
        rows = tuple(
            Row(i.n, long_date(i.due, sv.lang), money(i.amount, acc.currency, sv.lang))
            for i in sv.offer.instalments
        )
        total = money(sv.offer.total, acc.currency, sv.lang)
    title = body.split("\n\n")[1].strip() if body.count("\n\n") >= 2 else template
    return Letter(
        kind=template,
        lang=sv.lang,
        letter_no="",
        day=day,
        ref=masked_ref(acc.account_ref),
        sender=_sender(settings),
        recipient=Party(acc.full_name, address),
        title=title,
        body=body,
        offer_text=sv.values.get("plan_amount"),
        instalments=rows,
        total=total,
    )


async def validation_letter(
    conn: asyncpg.Connection | asyncpg.Pool,
    acc: AccountView,
    settings: Settings,
    address: tuple[str, ...],
    day: date,
) -> Letter:
    """The US validation notice (Reg F 1006.34, model form B-1): the itemization date is the last
    payment's date, else the date the loan was made (a transaction date), else the due date."""
    row = await conn.fetchrow("SELECT opened_on, profile FROM accounts WHERE id = $1", acc.account_id)
    last = await conn.fetchval("SELECT max(paid_at) FROM payments WHERE account_id = $1", acc.account_id)
    itemized: date = last.date() if last else (row["opened_on"] or acc.due_date)
    paid = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM payments WHERE account_id = $1 AND paid_at::date > $2",
        acc.account_id,
        itemized,
    )
    fees = Decimal(str((row["profile"].get("loan") or {}).get("late_fee") or 0))
    fees = fees if acc.due_date >= itemized else Decimal(0)
    interest = Decimal(0)  # accrued interest is not itemized in the portfolio: stated as none
    owed_then = acc.balance - interest - fees + Decimal(paid)

    def m(v: Decimal) -> str:
        return money(v, acc.currency, "en")

    notice = {
        "creditor": settings.letters.creditor,
        "account_masked": masked_ref(acc.account_ref),
        "itemization_date": long_date(itemized, "en"),
        "owed_then": m(owed_then),
        "interest": m(interest),
        "fees": m(fees),
        "paid": m(Decimal(paid)),
        "owed_now": m(acc.balance),
        "dispute_by": long_date(day + timedelta(days=settings.letters.validation_days), "en"),
    }
    return Letter(
        kind=VALIDATION,
        lang="en",
        letter_no="",
        day=day,
        ref=masked_ref(acc.account_ref),
        sender=_sender(settings),
        recipient=Party(acc.full_name, address),
        title="Validation notice",
        notice=notice,
    )


class LetterService:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, renderer: Executor | None = None) -> None:
        self.pool = pool
        self.settings = settings
        # where PDFs are made: a process pool spreads a batch over the cores (one PDF is CPU-bound,
        # about a quarter of a second); None: a thread of this process
        self.renderer = renderer

    async def make(self, account_id: int, template: str, *, step_key: str | None, now: datetime) -> Made:
        """The letter of one plan step (or the validation notice), through the gate, stored once."""
        if step_key is not None:
            found = await self.pool.fetchval("SELECT id FROM letters WHERE step_key = $1", step_key)
            if found is not None:
                return Made("sent", found, None, False, "made before")
        acc = await load_account(self.pool, account_id)
        if acc is None:
            return Made("no_account", why=f"no account {account_id}")
        address = await _address(self.pool, account_id)
        if not address:
            return Made("no_address", why="the debtor has no postal address")
        day = now.date()
        try:
            if template == VALIDATION:
                letter = await validation_letter(self.pool, acc, self.settings, address, day)
            else:
                sv = await step_values(self.pool, acc, self.settings, day)
                letter = script_letter(acc, template, sv, self.settings, address, day)
        except (KeyError, ScriptError, LetterError) as exc:
            log.warning("account %s: letter %s cannot be made: %s", acc.account_ref, template, exc)
            return Made("no_text", why=str(exc))
        lid = uuid.uuid4()
        letter = dataclasses.replace(letter, letter_no=str(lid)[:8].upper())
        html = layout.render_html(letter)
        pdf = await asyncio.get_running_loop().run_in_executor(self.renderer, layout.write_pdf, html)
        async with self.pool.acquire() as conn, conn.transaction():
            verdict = await judge_step(conn, account_id=account_id, channel="letter", number=None, at=now)
            if not verdict.allowed:
                return Made("blocked", None, verdict)
            made_id, new = await store.add(
                conn,
                account_id=account_id,
                template=template,
                lang=letter.lang,
                pdf=pdf.data,
                pages=pdf.pages,
                step_key=step_key,
                at=now,
                detail={"letter_no": letter.letter_no, "recipient_lines": len(address)},
                letter_id=lid,
            )
        return Made("sent", made_id, verdict, new)

    async def export(self, out_dir: Path, now: datetime) -> dict[str, Any]:
        """Every queued letter into `out_dir/YYYY-MM-DD[-n]/` (the PDFs and manifest.csv, written to a
        hidden folder first), then their dispatch recorded; the folder takes its name after the commit,
        so a batch the mail house sees is one whose letters are recorded as sent."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await store.queued(conn)
            if not rows:
                return {"batch": None, "letters": 0}
            batch = _batch_name(out_dir, now.date())
            tmp = out_dir / f".{batch}.partial"
            await asyncio.to_thread(write_batch, tmp, rows)
            await store.exported(conn, [r["id"] for r in rows], batch, now)
        os.rename(tmp, out_dir / batch)
        return {"batch": batch, "letters": len(rows), "folder": str(out_dir / batch)}

    async def report(self, letter_id: uuid.UUID, state: str, now: datetime, note: str | None = None) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            return await store.reported(conn, letter_id, state, now, note)


def _batch_name(out_dir: Path, day: date) -> str:
    n = 1
    while (out_dir / (day.isoformat() if n == 1 else f"{day.isoformat()}-{n}")).exists():
        n += 1
    return day.isoformat() if n == 1 else f"{day.isoformat()}-{n}"


def write_batch(folder: Path, rows: list[asyncpg.Record]) -> None:
    """The letters' PDFs and the manifest CSV the mail house reads (a stored PDF whose hash does not
    match is refused: the batch is not written)."""
    folder.mkdir(parents=True, exist_ok=False)
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, MANIFEST_FIELDS)
        w.writeheader()
        for r in rows:
            name = f"{r['account_ref']}-{r['template']}-{str(r['id'])[:8]}.pdf"
            data = bytes(r["pdf"])
            if hashlib.sha256(data).hexdigest() != r["sha256"]:
                raise RuntimeError(f"letter {r['id']}: the stored PDF does not match its hash")
            (folder / name).write_bytes(data)
            place = {k: r[k] for k in ("address_line", "city", "region", "country")}
            w.writerow(
                {"letter_id": r["id"], "file": name, "sha256": r["sha256"], "pages": r["pages"],
                 "account": r["account_ref"], "template": r["template"], "language": r["lang"],
                 "recipient": r["full_name"], **place}
            )  # fmt: skip
        fh.flush()
        os.fsync(fh.fileno())


def needs_validation(country: str | None) -> bool:
    """Accounts of US debtors get the validation notice before any other letter (Reg F 1006.34)."""
    return (country or "").upper() == "US"
