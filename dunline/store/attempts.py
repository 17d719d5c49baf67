"""Attempts, their transitions, outcomes, the contact ledger and the audit log.

Every state change of an attempt is checked against `dialer.lifecycle` while the attempt row is
locked (`SELECT ... FOR UPDATE`), and the new state and its transition row are written in the same
transaction: the stored history can never hold an illegal or half-written change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from dunline.dialer import lifecycle


def _jsonable(detail: Mapping[str, Any]) -> Any:
    """Plain JSON values only (dates, UUIDs and Decimals become strings)."""
    return json.loads(json.dumps(dict(detail), default=str))


async def create_campaign(pool: asyncpg.Pool, name: str, mode: str = "ivr") -> int:
    async with pool.acquire() as conn, conn.transaction():
        cid: int = await conn.fetchval(
            "INSERT INTO campaigns (name, mode, status) VALUES ($1, $2, 'running') RETURNING id", name, mode
        )
        await audit(conn, "controller", "campaign.start", f"campaign:{cid}", {"name": name, "mode": mode})
        return cid


async def finish_campaign(pool: asyncpg.Pool, campaign_id: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE campaigns SET status = 'finished' WHERE id = $1", campaign_id)
        await audit(conn, "controller", "campaign.finish", f"campaign:{campaign_id}", {})


async def create_attempt(
    pool: asyncpg.Pool,
    *,
    campaign_id: int | None,
    account_id: int,
    phone_id: int,
    number: str,
    at: datetime,
    kind: str = "prerecorded",
    template: str | None = None,
) -> uuid.UUID:
    async with pool.acquire() as conn, conn.transaction():
        return await insert_attempt(
            conn,
            campaign_id=campaign_id,
            account_id=account_id,
            phone_id=phone_id,
            number=number,
            at=at,
            kind=kind,
            template=template,
        )


async def insert_attempt(
    conn: asyncpg.Connection,
    *,
    campaign_id: int | None,
    account_id: int,
    phone_id: int,
    number: str,
    at: datetime,
    kind: str,
    template: str | None = None,
) -> uuid.UUID:
    """A new attempt in state `created` with its first transition (inside the caller's transaction).
    `template`: the script template of the plan step it carries out, if any."""
    attempt_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO attempts"
        " (id, campaign_id, account_id, phone_id, number_e164, state, created_at, updated_at, kind, template)"
        " VALUES ($1, $2, $3, $4, $5, 'created', $6, $6, $7, $8)",
        attempt_id,
        campaign_id,
        account_id,
        phone_id,
        number,
        at,
        kind,
        template,
    )
    await conn.execute(
        "INSERT INTO attempt_transitions (attempt_id, seq, from_state, to_state, at, detail)"
        " VALUES ($1, 0, NULL, 'created', $2, '{}'::jsonb)",
        attempt_id,
        at,
    )
    return attempt_id


async def transition(
    pool: asyncpg.Pool,
    attempt_id: uuid.UUID,
    target: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    **fields: Any,
) -> str:
    """Move the attempt to `target` (raises lifecycle.IllegalTransition) and set extra columns.
    Returns the previous state."""
    allowed = {
        "channel_id",
        "originate_reason",
        "hangup_cause",
        "hangup_cause_text",
        "amd_status",
        "amd_cause",
    }
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"unknown attempt field(s): {sorted(bad)}")
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT state FROM attempts WHERE id = $1 FOR UPDATE", attempt_id)
        if row is None:
            raise KeyError(f"no attempt {attempt_id}")
        current = row["state"]
        lifecycle.check(str(attempt_id), current, target)
        sets = ["state = $2", "updated_at = $3"]
        args: list[Any] = [attempt_id, target, at]
        for name, value in fields.items():
            args.append(value)
            sets.append(f"{name} = ${len(args)}")
        if target in lifecycle.FINAL:
            args.append(lifecycle.result(target))
            sets.append(f"result = ${len(args)}")
            sets.append("ended_at = $3")
        await conn.execute(f"UPDATE attempts SET {', '.join(sets)} WHERE id = $1", *args)
        await conn.execute(
            "INSERT INTO attempt_transitions (attempt_id, seq, from_state, to_state, at, detail)"
            " SELECT $1, coalesce(max(seq), -1) + 1, $2, $3, $4, $5::jsonb FROM attempt_transitions"
            " WHERE attempt_id = $1",
            attempt_id,
            current,
            target,
            at,
            _jsonable(detail or {}),
        )
        if target in lifecycle.FINAL:
            acct = await conn.fetchval("SELECT account_id FROM attempts WHERE id = $1", attempt_id)
            await ledger(
                conn, acct, attempt_id, "call", "outbound", f"call.{target}", {"state": target, **fields}, at
            )
        return str(current)


async def set_fields(pool: asyncpg.Pool, attempt_id: uuid.UUID, **fields: Any) -> None:
    allowed = {"hangup_cause", "hangup_cause_text", "amd_status", "amd_cause", "originate_reason"}
    bad = set(fields) - allowed
    if bad or not fields:
        raise ValueError(f"unknown or no attempt field(s): {sorted(bad)}")
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(fields))
    await pool.execute(f"UPDATE attempts SET {sets} WHERE id = $1", attempt_id, *fields.values())


async def record_outcome(
    pool: asyncpg.Pool,
    attempt_id: uuid.UUID,
    outcome: str,
    detail: Mapping[str, Any],
    flag: str | None,
) -> None:
    """Store an IVR outcome, its ledger entry and (cease, dispute, ...) the account flag, atomically."""
    async with pool.acquire() as conn, conn.transaction():
        acct = await conn.fetchval("SELECT account_id FROM attempts WHERE id = $1", attempt_id)
        if acct is None:
            raise KeyError(f"no attempt {attempt_id}")
        await conn.execute(
            "INSERT INTO outcomes (attempt_id, account_id, outcome, detail) VALUES ($1, $2, $3, $4::jsonb)",
            attempt_id,
            acct,
            outcome,
            _jsonable(detail),
        )
        await ledger(conn, acct, attempt_id, "call", "inbound", f"ivr.{outcome}", detail)
        await _report(conn, acct, attempt_id, outcome, detail, flag)
        if flag == "wrong_number":  # a fact about the number, not the account: never call it again
            await conn.execute(
                "UPDATE phones SET wrong_number = true"
                " WHERE id = (SELECT phone_id FROM attempts WHERE id = $1)",
                attempt_id,
            )
        elif flag:
            await conn.execute(
                "UPDATE accounts SET flags = array_append(flags, $2) WHERE id = $1 AND NOT ($2 = ANY(flags))",
                acct,
                flag,
            )
            await audit(
                conn, "ivr", "account.flag", f"account:{acct}", {"flag": flag, "attempt": str(attempt_id)}
            )


async def _report(
    conn: asyncpg.Connection,
    account_id: int,
    attempt_id: uuid.UUID,
    outcome: str,
    detail: Mapping[str, Any],
    flag: str | None,
) -> None:
    """The webhook events of an outcome, in its transaction (no number, no name: the account and what
    was said)."""
    from dunline.store.webhooks import emit

    ref = await conn.fetchval("SELECT account_ref FROM accounts WHERE id = $1", account_id)
    slots = {k: v for k, v in dict(detail.get("slots") or {}).items() if v not in (None, "")}
    base = {"account": ref, "attempt": str(attempt_id), "channel": "call"}
    await emit(
        conn, "outcome", _jsonable({**base, "outcome": outcome, "slots": slots, "by": detail.get("by")})
    )
    if outcome == "promise_to_pay":
        await emit(
            conn, "promise", _jsonable({**base, "due": slots.get("date"), "amount": slots.get("amount")})
        )
    if flag == "cease":
        await emit(conn, "opt_out", _jsonable({**base, "scope": "all", "source": "call"}))


async def attempt_event(
    pool: asyncpg.Pool, attempt_id: uuid.UUID, channel: str, event: str, detail: Mapping[str, Any]
) -> None:
    """A ledger entry about an attempt (its account is looked up)."""
    async with pool.acquire() as conn:
        acct = await conn.fetchval("SELECT account_id FROM attempts WHERE id = $1", attempt_id)
        if acct is None:
            raise KeyError(f"no attempt {attempt_id}")
        await ledger(conn, acct, attempt_id, channel, "outbound", event, detail)


async def ledger(
    conn: asyncpg.Connection,
    account_id: int,
    attempt_id: uuid.UUID | None,
    channel: str,
    direction: str,
    event: str,
    detail: Mapping[str, Any],
    at: datetime | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO contact_ledger (account_id, attempt_id, channel, direction, event, detail, at)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, coalesce($7, now()))",
        account_id,
        attempt_id,
        channel,
        direction,
        event,
        _jsonable(detail),
        at,
    )


async def audit(
    conn: asyncpg.Connection, actor: str, action: str, subject: str, detail: Mapping[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        subject,
        _jsonable(detail),
    )


async def attempt_report(pool: asyncpg.Pool, attempt_id: uuid.UUID) -> dict[str, Any]:
    row = await pool.fetchrow("SELECT * FROM attempts WHERE id = $1", attempt_id)
    if row is None:
        raise KeyError(f"no attempt {attempt_id}")
    out = dict(row)
    out["transitions"] = [
        dict(r)
        for r in await pool.fetch(
            "SELECT seq, from_state, to_state, at, detail FROM attempt_transitions"
            " WHERE attempt_id = $1 ORDER BY seq",
            attempt_id,
        )
    ]
    out["outcomes"] = [
        r["outcome"]
        for r in await pool.fetch(
            "SELECT outcome FROM outcomes WHERE attempt_id = $1 ORDER BY id", attempt_id
        )
    ]
    return out
