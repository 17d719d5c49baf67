"""What the compliance gate reads and writes: an account's facts, its contact history, verdicts,
the audit view of one account, and the retention purge.

Rows come back as plain dicts; `dialer.clearance` turns them into the gate's values. The history of
calls is read from `attempts` (every placed call, with its result); other channels and inbound
contacts are `contact_ledger` rows with event `contact` (detail: result, phone, kind).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

LOCK_NAMESPACE = 0x44554E  # pg_advisory_xact_lock(namespace, account id): one gate decision at a time

# attempt state -> the history result the gate reads ("completed" depends on right-party verification)
CALL_RESULTS = {
    "voicemail": "voicemail",
    "busy": "busy",
    "no_answer": "no_answer",
    "congestion": "failed",
    "failed": "failed",
    "abandoned": "abandoned",
}


async def lock_account(conn: asyncpg.Connection, account_id: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_NAMESPACE, account_id)


async def account_facts(conn: asyncpg.Connection, account_id: int) -> dict[str, Any] | None:
    """The account's flags, its debtor's location and inconvenient times, and every phone."""
    row = await conn.fetchrow(
        "SELECT a.account_ref, a.flags, d.country, d.region, d.city, d.timezone, d.debtor_windows,"
        " d.id AS debtor"
        " FROM accounts a JOIN debtors d ON d.id = a.debtor_id WHERE a.id = $1",
        account_id,
    )
    if row is None:
        return None
    phones = await conn.fetch(
        "SELECT number_e164, kind, consent, role, refused, wrong_number FROM phones"
        " WHERE debtor_id = $1 ORDER BY priority, id",
        row["debtor"],
    )
    out = dict(row.items())
    out["phones"] = [dict(p.items()) for p in phones]
    return out


async def call_history(conn: asyncpg.Connection, account_id: int, since: datetime) -> list[dict[str, Any]]:
    """Every call placed about the account since `since`, and every `contact` ledger entry."""
    return (await histories(conn, [account_id], since)).get(account_id, [])


async def histories(
    conn: asyncpg.Connection, account_ids: Sequence[int], since: datetime
) -> dict[int, list[dict[str, Any]]]:
    """`call_history` of many accounts in two queries. Each entry also says which template the
    contact used and the promise made in it (the slots of a `promise_to_pay` outcome), if any.

    A completed call is a `conversation` when the IVR verified the debtor or an agent talked with the
    person who answered (the call was bridged to an agent: counted whoever it was, which can only block
    more); else `answered`."""
    rows = await conn.fetch(
        """
        SELECT a.account_id, a.created_at AS at, 'call' AS channel, 'outbound' AS direction, a.state,
               a.number_e164 AS phone, a.kind, a.template,
               (EXISTS (SELECT 1 FROM contact_ledger l WHERE l.attempt_id = a.id AND l.event = 'ivr.session'
                        AND (l.detail->>'verified')::boolean)
                OR EXISTS (SELECT 1 FROM attempt_transitions t WHERE t.attempt_id = a.id
                           AND t.to_state = 'bridged')) AS verified,
               (SELECT o.detail->'slots' FROM outcomes o WHERE o.attempt_id = a.id
                  AND o.outcome = 'promise_to_pay' ORDER BY o.id DESC LIMIT 1) AS promise
        FROM attempts a WHERE a.account_id = ANY($1::bigint[]) AND a.created_at > $2
        """,
        list(account_ids),
        since,
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        state = r["state"]
        if state == "completed":
            result = "conversation" if r["verified"] else "answered"
        else:
            result = CALL_RESULTS.get(state, "in_progress")
        out.setdefault(r["account_id"], []).append({**dict(r.items()), "result": result})
    others = await conn.fetch(
        "SELECT account_id, at, channel, direction, detail FROM contact_ledger"
        " WHERE account_id = ANY($1::bigint[]) AND event = 'contact' AND at > $2",
        list(account_ids),
        since,
    )
    for o in others:
        d = o["detail"] or {}
        out.setdefault(o["account_id"], []).append(
            {
                "at": o["at"],
                "channel": o["channel"],
                "direction": o["direction"],
                "result": d.get("result", "delivered"),
                "phone": d.get("phone"),
                "kind": d.get("kind"),
                "template": d.get("template"),
                "promise": d.get("promise"),
            }
        )
    return out


async def insert_verdict(
    conn: asyncpg.Connection,
    *,
    account_id: int,
    attempt_id: uuid.UUID | None,
    at: datetime,
    channel: str,
    number: str | None,
    kind: str,
    allowed: bool,
    rules: Iterable[str],
    reasons: Iterable[str],
    next_allowed_at: datetime | None,
    profiles: Iterable[str],
) -> int:
    vid: int = await conn.fetchval(
        "INSERT INTO verdicts (account_id, attempt_id, at, channel, number_e164, kind, allowed, rules,"
        " reasons, next_allowed_at, profiles)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11) RETURNING id",
        account_id,
        attempt_id,
        at,
        channel,
        number,
        kind,
        allowed,
        list(rules),
        list(reasons),
        next_allowed_at,
        list(profiles),
    )
    return vid


async def audit_trail(pool: asyncpg.Pool, account_ref: str) -> dict[str, Any] | None:
    """The account's contact history with the gate's decision for each attempt, oldest first."""
    async with pool.acquire() as conn:
        acc = await conn.fetchrow(
            "SELECT a.id, a.account_ref, a.flags, d.country, d.region FROM accounts a"
            " JOIN debtors d ON d.id = a.debtor_id WHERE a.account_ref = $1",
            account_ref,
        )
        if acc is None:
            return None
        verdicts = await conn.fetch(
            "SELECT v.at, v.channel, v.number_e164, v.kind, v.allowed, v.rules, v.reasons, v.next_allowed_at,"
            " v.profiles, v.attempt_id, a.state, a.result, a.hangup_cause,"
            " (SELECT array_agg(o.outcome ORDER BY o.id) FROM outcomes o WHERE o.attempt_id = a.id)"
            " AS outcomes"
            " FROM verdicts v LEFT JOIN attempts a ON a.id = v.attempt_id"
            " WHERE v.account_id = $1 ORDER BY v.at, v.id",
            acc["id"],
        )
        events = await conn.fetch(
            "SELECT at, channel, direction, event, attempt_id FROM contact_ledger"
            " WHERE account_id = $1 ORDER BY at, id",
            acc["id"],
        )
    return {
        "account": acc["account_ref"],
        "flags": list(acc["flags"]),
        "country": acc["country"],
        "region": acc["region"],
        "decisions": [dict(v.items()) for v in verdicts],
        "ledger": [dict(e.items()) for e in events],
    }


async def account_actions(pool: asyncpg.Pool, account_ref: str) -> list[dict[str, Any]]:
    """What people and systems did to the account (holds, unmasking, imports ...), oldest first."""
    rows = await pool.fetch(
        "SELECT at, actor, action, detail FROM audit_log WHERE subject = ("
        " SELECT 'account:' || id FROM accounts WHERE account_ref = $1) OR subject = $2 ORDER BY at, id",
        account_ref,
        f"account:{account_ref}",
    )
    return [dict(r.items()) for r in rows]


async def purge_candidates(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Each account's last contact activity and the debtor's country and region (for retention)."""
    rows = await pool.fetch(
        """
        SELECT a.id, a.account_ref, d.country, d.region, d.city,
               greatest((SELECT max(created_at) FROM attempts WHERE account_id = a.id),
                        (SELECT max(at) FROM contact_ledger WHERE account_id = a.id),
                        (SELECT max(at) FROM verdicts WHERE account_id = a.id)) AS last_activity
        FROM accounts a JOIN debtors d ON d.id = a.debtor_id
        """
    )
    return [dict(r.items()) for r in rows if r["last_activity"] is not None]


async def purge_account_history(
    pool: asyncpg.Pool, account_id: int, *, reason: Mapping[str, Any]
) -> dict[str, int]:
    """Delete the account's contact records (calls, texts, letters: one transaction) and note the purge
    in the audit log. `counts["recordings"]` lists nothing: the caller deletes the files of `ids`."""
    from dunline.store.attempts import audit

    counts: dict[str, int] = {}
    async with pool.acquire() as conn, conn.transaction():
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM attempts WHERE account_id = $1", account_id)]
        for table, where, arg in (
            ("verdicts", "account_id = $1", account_id),
            ("outcomes", "account_id = $1", account_id),
            ("contact_ledger", "account_id = $1", account_id),
            ("attempt_transitions", "attempt_id = ANY($1::uuid[])", ids),
            ("attempts", "account_id = $1", account_id),
            (
                "sms_receipts",
                "message_id IN (SELECT id FROM sms_messages WHERE account_id = $1)",
                account_id,
            ),
            ("sms_messages", "account_id = $1", account_id),
            ("sms_inbound", "account_id = $1", account_id),
            ("letters", "account_id = $1", account_id),
            ("plan_steps", "account_id = $1", account_id),
        ):
            status = await conn.execute(f"DELETE FROM {table} WHERE {where}", arg)
            counts[table] = int(status.split()[-1])
        await audit(conn, "retention", "purge", f"account:{account_id}", {**reason, "deleted": counts})
    return counts


async def change_flag(
    pool: asyncpg.Pool, account_ref: str, flag: str, *, lift: bool, actor: str, reason: str
) -> list[str] | None:
    """Set or lift an account flag (a hold) and note who did it and why; None: no such account."""
    from dunline.store.attempts import audit

    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, flags FROM accounts WHERE account_ref = $1 FOR UPDATE", account_ref
        )
        if row is None:
            return None
        flags = [f for f in row["flags"] if f != flag] if lift else sorted({*row["flags"], flag})
        await conn.execute("UPDATE accounts SET flags = $2 WHERE id = $1", row["id"], flags)
        action = "flag.lift" if lift else "flag.set"
        if flag == "cease" and not lift and "cease" not in row["flags"]:
            from dunline.store.webhooks import emit

            await emit(conn, "opt_out", {"account": account_ref, "scope": "all", "source": actor})
        await audit(
            conn, actor, action, f"account:{row['id']}", {"flag": flag, "reason": reason, "was": row["flags"]}
        )
        return flags
