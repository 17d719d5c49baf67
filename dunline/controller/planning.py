"""Plan stored accounts: read them back as account documents (store/profiles), run the pure planner,
and store each plan in `account_plans`, where campaigns select what is due.

Accounts are read and planned in batches of `BATCH`; one batch's plans are written in one transaction.
A stored account that no longer makes a valid document (e.g. a time zone removed from tzdata) is not
planned; it is reported by reference with the reason, and its previous plan, if any, is deleted so no
campaign acts on a stale one.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dunline.store import profiles as store
from dunline.strategies.history import HistoryError, parse_history
from dunline.strategies.planner import Plan, plan
from dunline.strategies.profile import ProfileError, parse_profile

BATCH = 1000
HISTORY_SPAN = timedelta(days=400)  # template uses and promises; the gate itself needs 45 days


@dataclass
class PlanRun:
    accounts: int = 0
    planned: int = 0
    invalid: list[dict[str, str]] = field(default_factory=list)
    by_tier: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)
    due_now: Counter[str] = field(default_factory=Counter)  # next step due at or before now, by channel
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "planned": self.planned,
            "invalid": self.invalid,
            "by_tier": dict(sorted(self.by_tier.items())),
            "by_stage": dict(sorted(self.by_stage.items())),
            "due_now": dict(sorted(self.due_now.items())),
            "seconds": round(self.seconds, 3),
        }


def plan_one(doc: store.StoredAccount, now: datetime) -> Plan:
    """The plan of one stored account; ProfileError / HistoryError when its data cannot be used."""
    return plan(parse_profile(doc.document), parse_history(doc.history), now)


async def plan_stored(pool: asyncpg.Pool, now: datetime, *, save: bool = True, batch: int = BATCH) -> PlanRun:
    """Plan every account with a balance left and (with `save`) store the plans."""
    t0 = time.perf_counter()
    run = PlanRun()
    async with pool.acquire() as conn:
        ids = await store.open_accounts(conn)
    for start in range(0, len(ids), batch):
        async with pool.acquire() as conn:
            docs = await store.load_documents(conn, ids[start : start + batch], since=now - HISTORY_SPAN)
        done, failed, invalid = _plan_docs(docs, now)
        run.accounts += len(docs)
        run.invalid += invalid
        for _aid, result in done:
            run.planned += 1
            run.by_tier[result["tier"]] += 1
            run.by_stage[result["stage"]] += 1
            due = [s for s in result["steps"] if datetime.fromisoformat(s["at"]) <= now]
            for s in due[:1]:
                run.due_now[s["channel"]] += 1
        if save:
            await _save(pool, done, failed, now)
    run.seconds = time.perf_counter() - t0
    return run


async def replan(pool: asyncpg.Pool, account_ids: list[int], now: datetime) -> None:
    """Plan these accounts again now (after a step was carried out, a reply came): their next step moves
    on. An account that no longer plans keeps no plan, as in `plan_stored`."""
    async with pool.acquire() as conn:
        open_ids = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM accounts WHERE id = ANY($1::bigint[]) AND balance > 0", list(account_ids)
            )
        }
        docs = await store.load_documents(
            conn, [a for a in account_ids if a in open_ids], since=now - HISTORY_SPAN
        )
    done, failed, _invalid = _plan_docs(docs, now)
    paid_off = [a for a in account_ids if a not in open_ids]  # no plan, as in plan_stored
    await _save(pool, done, failed + paid_off, now)


def _plan_docs(
    docs: list[store.StoredAccount], now: datetime
) -> tuple[list[tuple[int, dict[str, Any]]], list[int], list[dict[str, str]]]:
    """(plans made, accounts that cannot be planned, why each cannot)."""
    done: list[tuple[int, dict[str, Any]]] = []
    failed: list[int] = []
    invalid: list[dict[str, str]] = []
    for doc in docs:
        try:
            done.append((doc.account_id, plan_one(doc, now).as_json()))
        except (ProfileError, HistoryError) as exc:
            invalid.append({"account": doc.account_ref, "error": str(exc)})
            failed.append(doc.account_id)
    return done, failed, invalid


async def _save(
    pool: asyncpg.Pool, done: list[tuple[int, dict[str, Any]]], failed: list[int], now: datetime
) -> None:
    """Store the plans made and drop the stale plans of the others, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await store.store_plans(conn, done, now)
        await store.drop_plans(conn, failed)
