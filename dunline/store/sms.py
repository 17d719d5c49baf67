"""Text messages in PostgreSQL: the outbox row of every SMS (idempotent by its step key), the SMSC's
answers (submit result, delivery receipts) and the debtor's replies.

A message's states: queued -> sending (handed to the SMPP client) -> submitted (the SMSC took it and
named it) | failed (refused) | unknown (the link went down before an answer: never sent again by
itself, a person decides) -> accepted / enroute (not final) -> delivered | undelivered | expired |
rejected | deleted (final). A receipt for an id no message has is kept too (message_id NULL).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from dunline.channels import receipts, replies
from dunline.channels.receipts import Receipt
from dunline.channels.replies import Reading
from dunline.channels.sms_text import Encoded
from dunline.store.attempts import audit, ledger
from dunline.store.webhooks import emit

RECEIPT_STATES = {
    "ACCEPTD": "accepted",
    "ENROUTE": "enroute",
    "UNKNOWN": "submitted",
    "DELIVRD": "delivered",
    "UNDELIV": "undelivered",
    "EXPIRED": "expired",
    "REJECTD": "rejected",
    "DELETED": "deleted",
}
FINAL = frozenset({"failed", "delivered", "undelivered", "expired", "rejected", "deleted"})
RECEIPT_FINAL = receipts.FINAL
RECEIPT_LOCK = 0x534D53  # advisory lock namespace ("SMS"): one SMSC id's receipts and its submit answer


async def add(
    conn: asyncpg.Connection,
    *,
    account_id: int,
    number: str,
    body: str,
    encoded: Encoded,
    step_key: str | None,
    at: datetime,
    template: str | None = None,
) -> tuple[uuid.UUID, bool]:
    """The message row (state `sending`) and its ledger entry; (id, False) when this step's message
    exists already (nothing new is written: a step is texted once)."""
    mid = uuid.uuid4()
    row = await conn.fetchrow(
        "INSERT INTO sms_messages (id, step_key, account_id, number_e164, body, alphabet, parts, state,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'sending', $8)"
        " ON CONFLICT (step_key) DO NOTHING RETURNING id",
        mid,
        step_key,
        account_id,
        number,
        body,
        encoded.alphabet,
        encoded.parts,
        at,
    )
    if row is None:
        existing = await conn.fetchval("SELECT id FROM sms_messages WHERE step_key = $1", step_key)
        return existing, False
    detail = {"result": "in_progress", "phone": number, "sms": str(mid), "parts": encoded.parts}
    if template:
        detail["template"] = template  # the planner counts the uses of each template
    await ledger(conn, account_id, None, "sms", "outbound", "contact", detail, at)
    return mid, True


async def submitted(pool: asyncpg.Pool, message_id: uuid.UUID, smsc_id: str, at: datetime) -> None:
    """The SMSC took the message and named it; receipts that arrived before this answer (an SMSC may
    send the receipt at once) are matched now, in the order they came."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", RECEIPT_LOCK, smsc_id)
        msg = await conn.fetchrow(
            "UPDATE sms_messages SET state = 'submitted', smsc_id = $2, submitted_at = $3"
            " WHERE id = $1 AND state = 'sending' RETURNING id, account_id, state",
            message_id,
            smsc_id,
            at,
        )
        if msg is None:
            return
        early = await conn.fetch(
            "UPDATE sms_receipts SET message_id = $1 WHERE smsc_id = $2 AND message_id IS NULL"
            " RETURNING id, state, error, received_at",
            message_id,
            smsc_id,
        )
        state = msg["state"]
        for r in sorted(early, key=lambda r: r["id"]):
            if state in FINAL:
                break
            state = await _apply(conn, msg["id"], msg["account_id"], r["state"], r["error"], r["received_at"])


async def failed(pool: asyncpg.Pool, message_id: uuid.UUID, error: str, at: datetime) -> None:
    await pool.execute(
        "UPDATE sms_messages SET state = 'failed', error = $2, final_at = $3"
        " WHERE id = $1 AND state = 'sending'",
        message_id,
        error[:500],
        at,
    )


async def lost_in_flight(pool: asyncpg.Pool) -> int:
    """At start-up: messages handed to the client that got no answer become `unknown` (not resent)."""
    done = await pool.execute("UPDATE sms_messages SET state = 'unknown' WHERE state = 'sending'")
    return int(done.split()[-1])


async def receipt(pool: asyncpg.Pool, r: Receipt, at: datetime) -> uuid.UUID | None:
    """Store a delivery receipt and move its message on (a final state is never left again). A receipt
    whose message is not named yet is kept unmatched; `submitted` matches it (both under one lock per
    SMSC id, so neither misses the other)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", RECEIPT_LOCK, r.message_id)
        msg = await conn.fetchrow(
            "SELECT id, account_id, state FROM sms_messages WHERE smsc_id = $1"
            " ORDER BY submitted_at DESC LIMIT 1 FOR UPDATE",  # the latest: an SMSC may reuse its ids
            r.message_id,
        )
        await conn.execute(
            "INSERT INTO sms_receipts (message_id, smsc_id, state, error, received_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            msg["id"] if msg else None,
            r.message_id,
            r.state,
            r.error,
            at,
        )
        if msg is None:
            return None
        if msg["state"] not in FINAL:
            await _apply(conn, msg["id"], msg["account_id"], r.state, r.error, at)
        return msg["id"]  # type: ignore[no-any-return]


async def _apply(
    conn: asyncpg.Connection, mid: uuid.UUID, account_id: int, stat: str, error: str | None, at: datetime
) -> str:
    """A receipt's state on its (not yet final) message; the new state."""
    state = RECEIPT_STATES[stat]
    final, delivered = stat in RECEIPT_FINAL, stat == "DELIVRD"
    await conn.execute(
        "UPDATE sms_messages SET state = $2, error = $3, final_at = CASE WHEN $4 THEN $5::timestamptz END"
        " WHERE id = $1",
        mid,
        state,
        None if delivered else error,
        final,
        at,
    )
    if final:
        detail = {"result": "delivered" if delivered else "failed", "sms": str(mid)}
        await ledger(conn, account_id, None, "sms", "outbound", "receipt", detail, at)
    return state


async def accounts_of(conn: asyncpg.Connection, number: str) -> list[int]:
    """The accounts of the debtors who have this number."""
    rows = await conn.fetch(
        "SELECT a.id FROM phones p JOIN accounts a ON a.debtor_id = p.debtor_id WHERE p.number_e164 = $1"
        " ORDER BY a.id",
        number,
    )
    return [r["id"] for r in rows]


async def zone_of(pool: asyncpg.Pool, number: str) -> str | None:
    """The time zone of the debtor who has this number (the first one), when known and valid."""
    zone: str | None = await pool.fetchval(
        "SELECT d.timezone FROM phones p JOIN debtors d ON d.id = p.debtor_id"
        " JOIN pg_timezone_names tz ON tz.name = d.timezone WHERE p.number_e164 = $1 ORDER BY d.id LIMIT 1",
        number,
    )
    return zone


async def inbound(pool: asyncpg.Pool, number: str, body: str, reading: Reading, at: datetime) -> list[int]:
    """Store a reply on the timeline of every account of its number and apply what it says
    (`replies.effects`) in the same transaction: the opt-out and other holds (before any further text),
    a wrong number, the outcome and a promise the planner tracks (a reply is a response). Returns the
    accounts."""
    detail: dict[str, Any] = {"confidence": round(reading.confidence, 3)}
    if reading.result is not None:
        detail["slots"] = reading.result.as_json()["slots"]
    does = replies.effects(reading, body)
    async with pool.acquire() as conn, conn.transaction():
        accounts = await accounts_of(conn, number)
        targets: list[int | None] = list(accounts) or [None]
        for account_id in targets:
            await conn.execute(
                "INSERT INTO sms_inbound (account_id, number_e164, body, received_at, intent, opt_out,"
                " needs_person, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
                account_id,
                number,
                body,
                at,
                reading.intent,
                reading.opt_out,
                reading.needs_person,
                {**detail, "outcome": does.outcome, "flags": list(does.flags)},
            )
            if account_id is None:
                continue
            entry: dict[str, Any] = {"result": "replied", "phone": number, "intent": reading.intent}
            if does.promise is not None:
                entry["promise"] = does.promise
            await ledger(conn, account_id, None, "sms", "inbound", "contact", entry, at)
            await _apply_reply(conn, account_id, number, reading, does, at)
        if does.wrong_number:  # a fact about the number: never texted or called for these debtors
            await conn.execute("UPDATE phones SET wrong_number = true WHERE number_e164 = $1", number)
        return accounts


async def _apply_reply(
    conn: asyncpg.Connection,
    account_id: int,
    number: str,
    reading: Reading,
    does: replies.Effects,
    at: datetime,
) -> None:
    row = await conn.fetchrow("SELECT account_ref, flags FROM accounts WHERE id = $1 FOR UPDATE", account_id)
    ref, flags = row["account_ref"], list(row["flags"])
    base = {"account": ref, "channel": "sms"}
    if does.outcome is not None:
        slots = {k: v for k, v in detail_slots(reading).items() if v not in (None, "")}
        await ledger(conn, account_id, None, "sms", "inbound", f"sms.{does.outcome}", {"slots": slots}, at)
        await emit(conn, "outcome", {**base, "outcome": does.outcome, "slots": slots, "by": "sms"})
        if does.promise is not None:
            await emit(
                conn, "promise", {**base, "due": does.promise["date"], "amount": does.promise["amount"]}
            )
    new = [f for f in does.flags if f not in flags]
    if not new:
        return
    if "sms_opt_out" in new:
        await emit(conn, "opt_out", {**base, "scope": "sms", "source": "sms"})
    if "cease" in new:
        await emit(conn, "opt_out", {**base, "scope": "all", "source": "sms"})
    await conn.execute("UPDATE accounts SET flags = $2 WHERE id = $1", account_id, sorted({*flags, *new}))
    for flag in new:
        why = {"flag": flag, "reason": f"reply: {reading.intent}", "was": flags}
        await audit(conn, "sms", "flag.set", f"account:{account_id}", why)


def detail_slots(reading: Reading) -> dict[str, Any]:
    if reading.result is None:
        return {}
    slots: dict[str, Any] = reading.result.as_json()["slots"]  # type: ignore[assignment]
    return slots
