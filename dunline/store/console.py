"""What the console shows: the accounts list (filtered and paginated in the database) and one
account's whole picture (the debtor 360), read in a fixed number of queries.

Names and numbers leave here as stored; masking is the view's job (`web/masking.py`), so the one
place that decides what a role sees is the web layer, and the audit of an unmasking sits beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from dunline.store.contacts import audit_trail
from dunline.store.profiles import load_documents

PAGE_SIZES = (25, 50, 100)
HISTORY_DAYS = 3 * 365


@dataclass(frozen=True)
class AccountFilter:
    """Each field narrows the list; None (or empty) leaves it open. Validated by the caller."""

    q: str | None = None  # a reference prefix, or the last digits of a number (4 or more digits)
    tier: str | None = None
    stage: str | None = None
    min_overdue: int | None = None
    max_overdue: int | None = None
    flag: str | None = None
    campaign: int | None = None
    due_before: datetime | None = None  # next plan step due before this instant
    page: int = 1
    per_page: int = 25


@dataclass
class AccountPage:
    rows: list[dict[str, Any]]
    page: int
    per_page: int
    more: bool  # another page follows


def _where(f: AccountFilter, today: date) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = [today]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.q:
        q = f.q.strip()
        digits = "".join(ch for ch in q if ch.isdigit())
        prefix = arg(_like_prefix(q))
        if len(digits) >= 4 and len(digits) == len(q.lstrip("+").replace(" ", "").replace("-", "")):
            # two indexed look-ups joined by UNION: an OR across them would walk every account
            tail = arg(_like_prefix(digits[::-1]))
            clauses.append(
                f"a.id IN (SELECT id FROM accounts WHERE account_ref LIKE {prefix}"
                f" UNION SELECT x.id FROM phones ph JOIN accounts x ON x.debtor_id = ph.debtor_id"
                f" WHERE reverse(ph.number_e164) LIKE {tail})"
            )
        else:
            clauses.append(f"a.account_ref LIKE {prefix}")
    if f.tier:
        clauses.append(f"p.tier = {arg(f.tier)}")
    if f.stage:
        clauses.append(f"p.stage = {arg(f.stage)}")
    if f.min_overdue is not None:
        clauses.append(f"a.due_date <= {arg(today - timedelta(days=f.min_overdue))}")
    if f.max_overdue is not None:
        clauses.append(f"a.due_date >= {arg(today - timedelta(days=f.max_overdue))}")
    if f.flag:
        clauses.append(f"a.flags @> ARRAY[{arg(f.flag)}]::text[]")
    if f.campaign is not None:
        clauses.append(
            f"EXISTS (SELECT 1 FROM campaign_members m WHERE m.account_id = a.id"
            f" AND m.campaign_id = {arg(f.campaign)})"
        )
    if f.due_before is not None:
        clauses.append(f"p.next_at <= {arg(f.due_before)}")
    return (" AND ".join(clauses) or "true"), args


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_accounts(pool: asyncpg.Pool, f: AccountFilter, *, today: date) -> AccountPage:
    """One page, ordered by reference. The page's ids are picked first, from the accounts alone
    (joined with the plans only when a filter needs them), and only those rows are joined: a deep
    offset then skips index entries instead of joining and sorting every account."""
    where, args = _where(f, today)
    needs_plans = f.tier is not None or f.stage is not None or f.due_before is not None
    plans = "LEFT JOIN account_plans p ON p.account_id = a.id" if needs_plans else ""
    args += [f.per_page + 1, (f.page - 1) * f.per_page]
    rows = await pool.fetch(
        f"""
        WITH page AS (
            SELECT a.id FROM accounts a {plans}
            WHERE {where}
            ORDER BY a.account_ref
            LIMIT ${len(args) - 1} OFFSET ${len(args)}
        )
        SELECT a.account_ref, d.full_name, d.language, d.country, d.region, a.currency, a.balance,
               a.due_date, ($1::date - a.due_date) AS days_overdue, a.flags,
               p.tier, p.stage, p.score, p.next_at, p.next_channel, p.next_template
        FROM page JOIN accounts a ON a.id = page.id JOIN debtors d ON d.id = a.debtor_id
        LEFT JOIN account_plans p ON p.account_id = a.id
        ORDER BY a.account_ref
        """,
        *args,
    )
    out = [dict(r.items()) for r in rows]
    return AccountPage(out[: f.per_page], f.page, f.per_page, len(out) > f.per_page)


async def filter_choices(pool: asyncpg.Pool) -> dict[str, list[Any]]:
    """The values the list's filters offer: tiers and stages in use, flags set, campaigns."""
    # the tiers by a skip scan (one index probe per tier, not a read of every plan); the flags from the
    # few accounts that have any (a partial index)
    tiers = await pool.fetch(
        """
        WITH RECURSIVE t AS (
            (SELECT tier FROM account_plans ORDER BY tier LIMIT 1)
            UNION ALL
            SELECT (SELECT tier FROM account_plans WHERE tier > t.tier ORDER BY tier LIMIT 1) FROM t
            WHERE t.tier IS NOT NULL
        )
        SELECT tier FROM t WHERE tier IS NOT NULL
        """
    )
    flags = await pool.fetch(
        "SELECT DISTINCT unnest(flags) AS f FROM accounts WHERE flags <> '{}' ORDER BY f"
    )
    campaigns = await pool.fetch("SELECT id, name FROM campaigns ORDER BY id DESC LIMIT 200")
    return {
        "tiers": [r["tier"] for r in tiers],
        "flags": [r["f"] for r in flags],
        "campaigns": [(r["id"], r["name"]) for r in campaigns],
    }


@dataclass
class Debtor360:
    account_id: int
    document: dict[str, Any]
    history: list[dict[str, Any]]
    plan: dict[str, Any] | None
    payments: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    full_name: str
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[Any, dict[str, Any]] = field(default_factory=dict)  # attempt -> its IVR session
    texts: list[dict[str, Any]] = field(default_factory=list)  # texts sent, with their state
    replies: list[dict[str, Any]] = field(default_factory=list)  # texts received
    letters: list[dict[str, Any]] = field(default_factory=list)  # letters made, with their state


async def debtor_360(pool: asyncpg.Pool, account_ref: str, *, now: datetime) -> Debtor360 | None:
    async with pool.acquire() as conn:
        acc = await conn.fetchrow(
            "SELECT a.id, d.full_name FROM accounts a JOIN debtors d ON d.id = a.debtor_id"
            " WHERE a.account_ref = $1",
            account_ref,
        )
        if acc is None:
            return None
        aid = acc["id"]
        docs = await load_documents(conn, [aid], since=now - timedelta(days=HISTORY_DAYS))
        plan = await conn.fetchrow("SELECT * FROM account_plans WHERE account_id = $1", aid)
        payments = await conn.fetch(
            "SELECT paid_at, amount, reference FROM payments WHERE account_id = $1 ORDER BY paid_at, id", aid
        )
        outcomes = await conn.fetch(
            "SELECT attempt_id, outcome, detail, at FROM outcomes WHERE account_id = $1 ORDER BY at, id", aid
        )
        sessions = await conn.fetch(
            "SELECT attempt_id, detail FROM contact_ledger WHERE account_id = $1 AND event = 'ivr.session'",
            aid,
        )
        texts = await conn.fetch(
            "SELECT created_at, body, parts, state FROM sms_messages WHERE account_id = $1", aid
        )
        replies = await conn.fetch(
            "SELECT received_at, number_e164, body, intent, needs_person, detail FROM sms_inbound"
            " WHERE account_id = $1",
            aid,
        )
        letters = await conn.fetch(
            "SELECT created_at, template, pages, state, batch FROM letters WHERE account_id = $1", aid
        )
        campaigns = await conn.fetch(
            "SELECT c.id, c.name, c.status, m.state, m.tries, m.last_result, m.next_try_at"
            " FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id WHERE m.account_id = $1"
            " ORDER BY c.id DESC",
            aid,
        )
    trail = await audit_trail(pool, account_ref)
    doc = docs[0]
    return Debtor360(
        account_id=aid,
        document=doc.document,
        history=doc.history,
        plan=None if plan is None else dict(plan.items()),
        payments=[dict(r.items()) for r in payments],
        outcomes=[dict(r.items()) for r in outcomes],
        decisions=trail["decisions"] if trail else [],
        ledger=trail["ledger"] if trail else [],
        full_name=acc["full_name"],
        campaigns=[dict(r.items()) for r in campaigns],
        sessions={r["attempt_id"]: dict(r["detail"] or {}) for r in sessions},
        texts=[dict(r.items()) for r in texts],
        replies=[dict(r.items()) for r in replies],
        letters=[dict(r.items()) for r in letters],
    )
