"""Payments (imported all or nothing) and the per-account facts the strategy report compares.

`import_payments` checks every account reference first and writes nothing when one is unknown; a row
whose (account, reference) is already stored is skipped, so importing the same file twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dunline.portfolio.csv_schema import RowError
from dunline.portfolio.payments_csv import PaymentRow
from dunline.store.attempts import audit
from dunline.store.db import translate


class UnknownAccounts(Exception):
    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} payment row(s) name unknown accounts; nothing was imported")


@dataclass(frozen=True)
class PaymentImport:
    rows: int
    inserted: int
    already_stored: int

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "inserted": self.inserted, "already_stored": self.already_stored}


async def import_payments(pool: asyncpg.Pool, rows: Sequence[PaymentRow], *, source: str) -> PaymentImport:
    try:
        async with pool.acquire() as conn, conn.transaction():
            refs = sorted({r.account_ref for r in rows})
            known = {
                rec["account_ref"]: rec["id"]
                for rec in await conn.fetch(
                    "SELECT id, account_ref FROM accounts WHERE account_ref = ANY($1::text[])", refs
                )
            }
            missing = [RowError(r.row, "account_ref", r.account_ref, "no such account") for r in rows
                       if r.account_ref not in known]  # fmt: skip
            if missing:
                raise UnknownAccounts(missing)
            inserted = 0
            for r in rows:
                status = await conn.execute(
                    "INSERT INTO payments (account_id, paid_at, amount, reference) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (account_id, reference) DO NOTHING",
                    known[r.account_ref],
                    r.paid_at,
                    r.amount,
                    r.reference,
                )
                inserted += int(status.split()[-1])
            result = PaymentImport(len(rows), inserted, len(rows) - inserted)
            await audit(conn, "cli", "import.payments", source, result.as_dict())
            return result
    except (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError) as exc:
        raise translate(exc) from exc


async def report_facts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Per account with any attempt: attempts, answered contacts, promises (slots) and payments."""
    rows = await pool.fetch(
        """
        SELECT a.id, a.account_ref, d.timezone, a.profile->>'variant' AS variant,
               (SELECT count(*) FROM attempts t WHERE t.account_id = a.id) AS attempts,
               (SELECT count(*) FROM attempts t WHERE t.account_id = a.id AND t.state = 'completed'
                   AND EXISTS (SELECT 1 FROM attempt_transitions x WHERE x.attempt_id = t.id
                               AND x.to_state = 'human')) AS contacts,
               (SELECT coalesce(json_agg(json_build_object('at', o.at, 'slots', o.detail->'slots')
                                        ORDER BY o.at), '[]'::json)
                  FROM outcomes o WHERE o.account_id = a.id AND o.outcome = 'promise_to_pay') AS promises,
               (SELECT coalesce(json_agg(json_build_object('at', p.paid_at, 'amount', p.amount)
                                        ORDER BY p.paid_at), '[]'::json)
                  FROM payments p WHERE p.account_id = a.id) AS payments
        FROM accounts a JOIN debtors d ON d.id = a.debtor_id
        WHERE EXISTS (SELECT 1 FROM attempts t WHERE t.account_id = a.id)
        ORDER BY a.id
        """
    )
    return [dict(r.items()) for r in rows]
