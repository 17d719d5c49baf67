"""The dialer's side of the compliance gate: ask it, record its verdict, and create the attempt only
when it allows, all in one transaction under a per-account lock.

The lock makes check-then-dial atomic: two controllers (or two tasks) dialling the same account are
decided one after the other, and the second sees the first one's attempt in the history. A blocked
verdict is stored like an allowed one, with its rule ids and `next_allowed_at`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from dunline.compliance import gate
from dunline.compliance.model import (
    WEEKDAYS,
    Account,
    Attempt,
    Channel,
    Contact,
    InconvenientWindow,
    Kind,
    Ledger,
    Phone,
    Verdict,
)
from dunline.compliance.profiles import Profile, parse_clock
from dunline.store import attempts as store
from dunline.store import contacts

HISTORY = timedelta(days=45)  # the longest window of any shipped rule is 30 days (+ calendar slack)


@dataclass(frozen=True)
class Clearance:
    verdict: Verdict
    attempt_id: uuid.UUID | None  # set when the gate allowed and the attempt was created


def to_account(facts: Mapping[str, Any]) -> Account:
    phones = tuple(
        Phone(
            p["number_e164"],
            "landline" if p["kind"] == "landline" else "work" if p["kind"] == "work" else "mobile",
            bool(p["consent"]),
            p["role"],
            bool(p["refused"]),
            bool(p["wrong_number"]),
        )
        for p in facts["phones"]
    )
    windows = tuple(
        InconvenientWindow(
            parse_clock(w["start"]),
            parse_clock(w["end"]),
            frozenset(WEEKDAYS.index(d) for d in w.get("days", [])),
            frozenset(w.get("channels", [])),
        )
        for w in facts.get("debtor_windows") or []
    )
    return Account(
        id=str(facts["account_ref"]),
        country=str(facts["country"] or "").upper(),
        region=facts["region"].upper() if facts["region"] else None,
        city=facts["city"],
        timezone=facts["timezone"],
        phones=phones,
        debtor_windows=windows,
    )


def to_ledger(rows: list[dict[str, Any]]) -> Ledger:
    return Ledger.of(
        Contact(r["at"], r["channel"], r["direction"], r["result"], r.get("phone"), r.get("kind"))
        for r in rows
    )


async def _judge(
    conn: asyncpg.Connection,
    account_id: int,
    number: str | None,
    kind: Kind,
    caller_id: str | None,
    at: datetime,
    profiles: tuple[Profile, ...] | None,
    asked_at: datetime | None = None,
    channel: Channel = "call",
) -> Verdict:
    facts = await contacts.account_facts(conn, account_id)
    if facts is None:
        raise KeyError(f"no account {account_id}")
    history = await contacts.call_history(conn, account_id, at - HISTORY)
    # every call the dialer places, and every text a campaign sends, is machine-sent from a list
    autodialed = channel != "letter"
    attempt = Attempt(to_account(facts), channel, number, kind, caller_id, autodialed, asked_at)
    return gate.check(attempt, to_ledger(history), frozenset(facts["flags"]), at, profiles)


def _waived_notes(verdict: Verdict, asked_at: datetime | None) -> tuple[str, ...]:
    """An allowed call that passed only because the debtor asked for it says so in the audit trail."""
    if not verdict.waived or asked_at is None:
        return ()
    asked = asked_at.astimezone(UTC)
    return tuple(
        f"{r}: set aside, the debtor asked for this call at {asked:%Y-%m-%d %H:%M} UTC"
        for r in verdict.waived
    )


async def preview(
    pool: asyncpg.Pool,
    *,
    account_id: int,
    number: str,
    kind: Kind,
    caller_id: str | None,
    at: datetime,
    profiles: tuple[Profile, ...] | None = None,
    asked_at: datetime | None = None,
) -> Verdict:
    """What the gate would say, without recording anything (planning, "why not now?")."""
    async with pool.acquire() as conn:
        return await _judge(conn, account_id, number, kind, caller_id, at, profiles, asked_at)


async def clear(
    pool: asyncpg.Pool,
    *,
    account_id: int,
    phone_id: int,
    number: str,
    campaign_id: int | None,
    kind: Kind,
    caller_id: str | None,
    at: datetime,
    profiles: tuple[Profile, ...] | None = None,
    template: str | None = None,
    asked_at: datetime | None = None,
) -> Clearance:
    """The gate's verdict on calling `number` for the account now; the attempt row when allowed.
    `template`: the script template of the plan step the call carries out (kept on the attempt).
    `asked_at`: when the debtor asked for this call (a callback booked at their request)."""
    async with pool.acquire() as conn, conn.transaction():
        await contacts.lock_account(conn, account_id)
        verdict = await _judge(conn, account_id, number, kind, caller_id, at, profiles, asked_at)
        attempt_id = None
        if verdict.allowed:
            attempt_id = await store.insert_attempt(
                conn,
                campaign_id=campaign_id,
                account_id=account_id,
                phone_id=phone_id,
                number=number,
                at=at,
                kind=kind,
                template=template,
            )
        await contacts.insert_verdict(
            conn,
            account_id=account_id,
            attempt_id=attempt_id,
            at=at,
            channel="call",
            number=number,
            kind=kind,
            allowed=verdict.allowed,
            rules=verdict.rules,
            reasons=verdict.reasons or _waived_notes(verdict, asked_at),
            next_allowed_at=verdict.next_allowed_at,
            profiles=verdict.profiles,
        )
    return Clearance(verdict, attempt_id)


async def judge_text(
    conn: asyncpg.Connection,
    *,
    account_id: int,
    number: str,
    at: datetime,
    profiles: tuple[Profile, ...] | None = None,
) -> Verdict:
    """The gate's verdict on texting `number` now, recorded; call inside a transaction that also
    writes the text's ledger entry when allowed (the per-account lock is taken here)."""
    return await judge_step(
        conn, account_id=account_id, channel="sms", number=number, at=at, profiles=profiles
    )


async def judge_step(
    conn: asyncpg.Connection,
    *,
    account_id: int,
    channel: Channel,
    number: str | None,
    at: datetime,
    profiles: tuple[Profile, ...] | None = None,
) -> Verdict:
    """The gate's verdict on a text (`number`) or a letter (no number) now, recorded; call inside the
    transaction that writes the step's outbox row and ledger entry when allowed (the per-account lock
    is taken here, so two steps of one account are judged one after the other)."""
    await contacts.lock_account(conn, account_id)
    verdict = await _judge(conn, account_id, number, "agent", None, at, profiles, channel=channel)
    await contacts.insert_verdict(
        conn,
        account_id=account_id,
        attempt_id=None,
        at=at,
        channel=channel,
        number=number,
        kind="agent",
        allowed=verdict.allowed,
        rules=verdict.rules,
        reasons=verdict.reasons,
        next_allowed_at=verdict.next_allowed_at,
        profiles=verdict.profiles,
    )
    return verdict
