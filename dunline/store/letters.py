"""Letters in PostgreSQL: the document of every letter (idempotent by its step key), its print-and-mail
export and what the mail house reports. A letter's dispatch and its delivery (or return) are contacts
on the account's ledger, like a call's result.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from dunline.store.attempts import audit, ledger

STATES = ("queued", "exported", "delivered", "returned")


async def add(
    conn: asyncpg.Connection,
    *,
    account_id: int,
    template: str,
    lang: str,
    pdf: bytes,
    pages: int,
    step_key: str | None,
    at: datetime,
    detail: dict[str, Any] | None = None,
    letter_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, bool]:
    """The letter row (queued) and its ledger entry; (id, False) when this step's letter exists."""
    lid = letter_id or uuid.uuid4()
    digest = hashlib.sha256(pdf).hexdigest()
    row = await conn.fetchrow(
        "INSERT INTO letters (id, step_key, account_id, template, lang, pdf, sha256, pages, created_at,"
        " detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
        " ON CONFLICT (step_key) DO NOTHING RETURNING id",
        lid,
        step_key,
        account_id,
        template,
        lang,
        pdf,
        digest,
        pages,
        at,
        detail or {},
    )
    if row is None:
        return await conn.fetchval("SELECT id FROM letters WHERE step_key = $1", step_key), False
    entry = {"result": "in_progress", "letter": str(lid), "template": template, "sha256": digest}
    await ledger(conn, account_id, None, "letter", "outbound", "contact", entry, at)
    return lid, True


async def queued(conn: asyncpg.Connection, limit: int = 10_000) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT l.id, l.account_id, a.account_ref, l.template, l.lang, l.pages, l.sha256, l.pdf,"
        " l.created_at, d.full_name, d.address_line, d.city, d.region, d.country"
        " FROM letters l JOIN accounts a ON a.id = l.account_id JOIN debtors d ON d.id = a.debtor_id"
        " WHERE l.state = 'queued' ORDER BY l.created_at, l.id LIMIT $1 FOR UPDATE OF l SKIP LOCKED",
        limit,
    )
    return rows


async def exported(conn: asyncpg.Connection, ids: list[uuid.UUID], batch: str, at: datetime) -> None:
    """The letters went out in `batch`: each one's dispatch is a contact on its account's ledger."""
    rows = await conn.fetch(
        "UPDATE letters SET state = 'exported', batch = $2, exported_at = $3"
        " WHERE id = ANY($1::uuid[]) AND state = 'queued' RETURNING id, account_id, template",
        ids,
        batch,
        at,
    )
    for r in rows:
        detail = {"result": "dispatched", "letter": str(r["id"]), "template": r["template"], "batch": batch}
        await ledger(conn, r["account_id"], None, "letter", "outbound", "letter.dispatched", detail, at)
    await audit(conn, "letters", "letters.exported", f"batch:{batch}", {"letters": len(rows)})


async def reported(
    conn: asyncpg.Connection, letter_id: uuid.UUID, state: str, at: datetime, note: str | None = None
) -> bool:
    """The mail house's report (delivered or returned) on an exported letter; False when the letter is
    unknown or not out (a report is never applied twice)."""
    if state not in ("delivered", "returned"):
        raise ValueError(f"a letter's report is delivered or returned, not {state!r}")
    row = await conn.fetchrow(
        "UPDATE letters SET state = $2, final_at = $3, detail = detail || $4::jsonb"
        " WHERE id = $1 AND state = 'exported' RETURNING account_id, template",
        letter_id,
        state,
        at,
        {"report": note} if note else {},
    )
    if row is None:
        return False
    result = "delivered" if state == "delivered" else "failed"
    detail = {"result": result, "letter": str(letter_id), "template": row["template"], "note": note}
    await ledger(conn, row["account_id"], None, "letter", "outbound", f"letter.{state}", detail, at)
    return True


async def of_account(conn: asyncpg.Connection, account_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, template, lang, pdf, sha256, pages, state, batch, created_at, exported_at, final_at"
        " FROM letters WHERE account_id = $1 ORDER BY created_at, id",
        account_id,
    )
    return rows
