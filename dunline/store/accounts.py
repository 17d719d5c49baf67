"""Accounts repository: portfolio import and the account views the dialer reads.

`import_portfolio` writes every row in ONE transaction (all rows or none) with one statement per row
(debtor + account + phones through data-modifying CTEs), so a database error names its row. A row whose
external_id or account_ref already exists is refused before anything is written, unless `upsert=True`:
then the account's balance and due date are updated, its strategy facts merged section by section (what
the file gives replaces, the rest is kept), flags only added to (an import never lifts a cease or
attorney flag), the debtor's inconvenient times replaced only when the import gives some, and the
debtor's phones replaced by the file's (phones no longer listed are deleted, or demoted to priority 100
when attempts reference them; a number marked refused or wrong stays marked); debtor details (name,
address, language) are not changed by an upsert. An audit_log row (action "import") is written in the
same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from dunline.portfolio.csv_schema import AccountRow
from dunline.store.db import StoreError, UniqueViolation, translate

# constraint name -> input column, to name the field of a database error
_CONSTRAINT_FIELD = {
    "debtors_external_id_key": "external_id",
    "accounts_account_ref_key": "account_ref",
    "accounts_principal_check": "principal",
    "accounts_balance_check": "balance",
    "phones_number_e164_check": "phone",
    "phones_kind_check": "phone_type",
    "phones_debtor_id_number_e164_key": "phone2",
}
STALE_PHONE_PRIORITY = 100

_DEBTOR_INSERT = """
    INSERT INTO debtors (external_id, full_name, national_id_masked, language, timezone,
                         address_line, city, region, country, debtor_windows)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $19::jsonb)"""
_ACCOUNT_INSERT = """
    INSERT INTO accounts (debtor_id, account_ref, currency, principal, balance, due_date, opened_on,
                          flags, profile)
    SELECT d.id, $10, $11, $12, $13, $14, $15, $20::text[], $21::jsonb FROM d"""
_PHONE_INSERT = """
    INSERT INTO phones (debtor_id, number_e164, kind, consent, priority, role, refused, wrong_number)
    SELECT d.id, x.n, x.k, x.c, x.o::smallint, x.r, x.f, x.w
    FROM d, unnest($16::text[], $17::text[], $18::bool[], $22::text[], $23::bool[], $24::bool[])
         WITH ORDINALITY AS x(n, k, c, r, f, w, o)"""
# An upsert merges the stored facts section by section: what the import gives replaces, what it does
# not give is kept.
_MERGED_PROFILE = """accounts.profile || (
        SELECT coalesce(jsonb_object_agg(e.k, CASE
                   WHEN jsonb_typeof(e.v) = 'object' AND jsonb_typeof(accounts.profile -> e.k) = 'object'
                   THEN (accounts.profile -> e.k) || e.v ELSE e.v END), '{}'::jsonb)
        FROM jsonb_each(EXCLUDED.profile) AS e(k, v))"""

INSERT_ROW = f"""
WITH d AS ({_DEBTOR_INSERT} RETURNING id, true AS created),
a AS ({_ACCOUNT_INSERT} RETURNING id, true AS created),
p AS ({_PHONE_INSERT} RETURNING id)
SELECT (SELECT id FROM d) AS debtor_id, true AS debtor_created, (SELECT id FROM a) AS account_id,
       true AS account_created, (SELECT count(*) FROM p) AS phones, 0::bigint AS phones_removed"""

UPSERT_ROW = f"""
WITH d AS ({_DEBTOR_INSERT}
    ON CONFLICT (external_id) DO UPDATE SET debtor_windows = CASE
        WHEN EXCLUDED.debtor_windows = '[]'::jsonb THEN debtors.debtor_windows
        ELSE EXCLUDED.debtor_windows END
    RETURNING id, (xmax = 0) AS created),
a AS ({_ACCOUNT_INSERT}
    ON CONFLICT (account_ref) DO UPDATE SET balance = EXCLUDED.balance, due_date = EXCLUDED.due_date,
        flags = ARRAY(SELECT DISTINCT f FROM unnest(accounts.flags || EXCLUDED.flags) AS f ORDER BY f),
        profile = {_MERGED_PROFILE}
    WHERE accounts.debtor_id = EXCLUDED.debtor_id
    RETURNING id, (xmax = 0) AS created),
p AS ({_PHONE_INSERT}
    ON CONFLICT (debtor_id, number_e164) DO UPDATE
    SET kind = EXCLUDED.kind, consent = EXCLUDED.consent, priority = EXCLUDED.priority,
        role = EXCLUDED.role, refused = phones.refused OR EXCLUDED.refused,
        wrong_number = phones.wrong_number OR EXCLUDED.wrong_number
    RETURNING id),
gone AS (
    DELETE FROM phones ph USING d
    WHERE ph.debtor_id = d.id AND NOT (ph.number_e164 = ANY($16::text[]))
      AND NOT EXISTS (SELECT 1 FROM attempts t WHERE t.phone_id = ph.id)
    RETURNING ph.id),
demoted AS (
    UPDATE phones ph SET priority = {STALE_PHONE_PRIORITY} FROM d
    WHERE ph.debtor_id = d.id AND NOT (ph.number_e164 = ANY($16::text[]))
      AND EXISTS (SELECT 1 FROM attempts t WHERE t.phone_id = ph.id)
    RETURNING ph.id)
SELECT (SELECT id FROM d) AS debtor_id, (SELECT created FROM d) AS debtor_created,
       (SELECT id FROM a) AS account_id, (SELECT created FROM a) AS account_created,
       (SELECT count(*) FROM p) AS phones, (SELECT count(*) FROM gone) AS phones_removed"""

_EXISTING = """
SELECT 'external_id' AS field, external_id AS key FROM debtors WHERE external_id = ANY($1::text[])
UNION ALL
SELECT 'account_ref', account_ref FROM accounts WHERE account_ref = ANY($2::text[])"""


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    debtors_created: int
    debtors_updated: int
    accounts_created: int
    accounts_updated: int
    phones_written: int
    phones_removed: int
    audit_id: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class AccountView:
    account_id: int
    account_ref: str
    debtor_id: int
    external_id: str
    full_name: str
    language: str
    timezone: str | None
    currency: str
    principal: Decimal
    balance: Decimal
    due_date: date
    days_overdue: int  # debtor-local today (UTC when no/unknown zone) minus due_date
    phone_id: int | None  # primary phone: the debtor's own, not marked wrong; lowest priority, then oldest
    phone_e164: str | None
    phone_kind: str | None
    phone_consent: bool | None


def _row_no(row: AccountRow, index: int) -> int:
    return row.row or index + 1


def _args(row: AccountRow) -> tuple[Any, ...]:
    return (
        row.external_id,
        row.full_name,
        row.national_id_masked,
        row.language,
        row.timezone,
        row.address_line,
        row.city,
        row.region,
        row.country,
        row.account_ref,
        row.currency,
        row.principal,
        row.balance,
        row.due_date,
        row.opened_on,
        [p.number_e164 for p in row.phones],
        [p.kind for p in row.phones],
        [p.consent for p in row.phones],
        list(row.debtor_windows),
        list(row.flags),
        dict(row.facts),
        [p.role for p in row.phones],
        [p.refused for p in row.phones],
        [p.wrong_number for p in row.phones],
    )


async def _refuse_existing(conn: asyncpg.Connection, rows: Sequence[AccountRow]) -> None:
    found = await conn.fetch(_EXISTING, [r.external_id for r in rows], [r.account_ref for r in rows])
    if not found:
        return
    taken = {(r["field"], r["key"]) for r in found}
    clashes = [
        (_row_no(row, i), field, getattr(row, field))
        for i, row in enumerate(rows)
        for field in ("external_id", "account_ref")
        if (field, getattr(row, field)) in taken
    ]
    n, field, key = clashes[0]
    more = f" ({len(clashes) - 1} more rows clash too)" if len(clashes) > 1 else ""
    raise UniqueViolation(
        f"row {n}, column {field}: {key!r} already exists in the database{more}; nothing was imported "
        "(import with upsert to update balances, due dates and phones)",
        row=n,
        field=field,
        constraint=f"{'debtors' if field == 'external_id' else 'accounts'}_{field}_key",
    )


async def import_portfolio(
    pool: asyncpg.Pool,
    rows: Sequence[AccountRow],
    *,
    upsert: bool = False,
    actor: str = "cli",
    source: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Store `rows` in one transaction; on error raise a StoreError (`.row`, `.field`), store nothing."""
    t0 = time.perf_counter()
    counts = dict.fromkeys(("dc", "du", "ac", "au", "ph", "pr"), 0)
    statement = UPSERT_ROW if upsert else INSERT_ROW
    try:
        async with pool.acquire() as conn, conn.transaction():
            if not upsert:
                await _refuse_existing(conn, rows)
            stmt = await conn.prepare(statement)
            for i, row in enumerate(rows):
                try:
                    rec = await stmt.fetchrow(*_args(row))
                except asyncpg.PostgresError as exc:
                    n = _row_no(row, i)
                    field = _CONSTRAINT_FIELD.get(getattr(exc, "constraint_name", None) or "")
                    err = translate(exc, row=n, field=field)
                    err.args = (f"row {n}, column {field or '?'}: {err}; nothing was imported",)
                    raise err from exc
                assert rec is not None
                if rec["account_id"] is None:
                    n = _row_no(row, i)
                    raise UniqueViolation(
                        f"row {n}, column account_ref: {row.account_ref!r} belongs to another debtor; "
                        "nothing was imported",
                        row=n,
                        field="account_ref",
                    )
                counts["dc" if rec["debtor_created"] else "du"] += 1
                counts["ac" if rec["account_created"] else "au"] += 1
                counts["ph"] += rec["phones"]
                counts["pr"] += rec["phones_removed"]
                if on_progress is not None:
                    on_progress(i + 1)
            detail = {
                "source": source,
                "rows": len(rows),
                "upsert": upsert,
                "debtors_created": counts["dc"],
                "debtors_updated": counts["du"],
                "accounts_created": counts["ac"],
                "accounts_updated": counts["au"],
                "phones_written": counts["ph"],
                "phones_removed": counts["pr"],
            }
            audit_id = await conn.fetchval(
                "INSERT INTO audit_log (actor, action, subject, detail)"
                " VALUES ($1, 'import', $2, $3) RETURNING id",
                actor,
                source,
                detail,
            )
    except StoreError:
        raise
    except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        raise translate(exc) from exc
    return ImportSummary(
        rows=len(rows),
        debtors_created=counts["dc"],
        debtors_updated=counts["du"],
        accounts_created=counts["ac"],
        accounts_updated=counts["au"],
        phones_written=counts["ph"],
        phones_removed=counts["pr"],
        audit_id=audit_id,
        seconds=time.perf_counter() - t0,
    )


_VIEW = """
SELECT a.id AS account_id, a.account_ref, d.id AS debtor_id, d.external_id, d.full_name, d.language,
       d.timezone, a.currency, a.principal, a.balance, a.due_date,
       ((coalesce($1::timestamptz, now()) AT TIME ZONE coalesce(tz.name, 'UTC'))::date - a.due_date)
           AS days_overdue,
       p.id AS phone_id, p.number_e164 AS phone_e164, p.kind AS phone_kind, p.consent AS phone_consent
FROM accounts a
JOIN debtors d ON d.id = a.debtor_id
LEFT JOIN pg_timezone_names tz ON tz.name = d.timezone
LEFT JOIN LATERAL (
    SELECT id, number_e164, kind, consent FROM phones
    WHERE debtor_id = d.id AND role = 'debtor' AND NOT wrong_number ORDER BY priority, id LIMIT 1
) p ON true"""


def _view(rec: asyncpg.Record) -> AccountView:
    return AccountView(**dict(rec.items()))


async def load_account(
    pool: asyncpg.Pool, account: str | int, *, as_of: datetime | None = None
) -> AccountView | None:
    """The account (by reference, or by database id) with its debtor and primary phone, or None."""
    where = " WHERE a.id = $2" if isinstance(account, int) else " WHERE a.account_ref = $2"
    try:
        rec = await pool.fetchrow(_VIEW + where, as_of, account)
    except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        raise translate(exc) from exc
    return None if rec is None else _view(rec)


async def list_dialable(
    pool: asyncpg.Pool, limit: int, *, as_of: datetime | None = None
) -> list[AccountView]:
    """Accounts with a balance, overdue (days_overdue >= 1) and a phone; most overdue first.

    Only data eligibility: the compliance gate still decides whether and when each may be called.
    `as_of` replaces now() (tests, simulations).
    """
    query = f"""
        SELECT * FROM ({_VIEW}) v
        WHERE v.balance > 0 AND v.phone_id IS NOT NULL AND v.days_overdue >= 1
        ORDER BY v.days_overdue DESC, v.account_id
        LIMIT $2"""
    try:
        recs = await pool.fetch(query, as_of, limit)
    except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        raise translate(exc) from exc
    return [_view(r) for r in recs]
