"""Stored attempts set up by hand for the integration tests that read them back (plans, reports,
the gate's history, retention), and what the calls of a test stored (the IVR session)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dunline.store import attempts as store
from dunline.store.accounts import AccountView, load_account

if TYPE_CHECKING:
    import asyncpg

    from dunline.config.schema import Settings

ANSWERED = ("dialing", "answered", "human", "in_ivr", "completed")


async def stored_call(
    pool: asyncpg.Pool,
    acc: AccountView,
    at: datetime,
    states: Sequence[str],
    *,
    stamped: datetime | None = None,
    template: str | None = None,
) -> uuid.UUID:
    """One attempt to the account's primary phone created at `at`, walked through `states` (each
    transition stamped `stamped`, default `at`). Returns its id."""
    assert acc.phone_id is not None and acc.phone_e164 is not None
    aid = await store.create_attempt(
        pool,
        campaign_id=None,
        account_id=acc.account_id,
        phone_id=acc.phone_id,
        number=acc.phone_e164,
        at=at,
        template=template,
    )
    for state in states:
        await store.transition(pool, aid, state, stamped or at)
    return aid


async def promised_call(
    pool: asyncpg.Pool, account_ref: str, at: datetime, due: str, amount: str, *, template: str | None = None
) -> AccountView:
    """One completed call to the account's primary phone at `at` (every transition stamped `at`) that
    ended with a promise to pay `amount` on `due` (ISO date). Returns the stored account."""
    acc = await load_account(pool, account_ref)
    assert acc is not None
    aid = await stored_call(pool, acc, at, ANSWERED, template=template)
    await store.record_outcome(pool, aid, "promise_to_pay", {"slots": {"date": due, "amount": amount}}, None)
    return acc


def with_speech(settings: Settings) -> Settings:
    """The settings with spoken answers on (the test stack runs keypad-only)."""
    return settings.model_copy(update={"speech": settings.speech.model_copy(update={"enabled": True})})


async def ivr_session(pool: asyncpg.Pool, attempt_id: str | uuid.UUID | None) -> dict[str, Any]:
    """The IVR session the call stored in the contact ledger: played prompts, answers heard, verified."""
    assert attempt_id is not None
    found: dict[str, Any] | None = await pool.fetchval(
        "SELECT detail FROM contact_ledger WHERE attempt_id = $1 AND event = 'ivr.session'",
        attempt_id if isinstance(attempt_id, uuid.UUID) else uuid.UUID(attempt_id),
    )
    assert found is not None, f"attempt {attempt_id}: no IVR session stored"
    return found
