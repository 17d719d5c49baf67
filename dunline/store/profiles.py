"""Accounts as the strategies see them, and the plans campaigns select from.

`load_documents` reads stored accounts back as the JSON account documents they were imported from
(docs/strategies.md: the portfolio's columns, the stored facts, phones, flags, inconvenient times,
payments) with their contact history in the documented history shape (the template each contact used,
the promise made in it). It reads many accounts in a fixed number of queries. The store does not
interpret them: the controller parses them with `strategies.profile` / `strategies.history`.
`store_plans` writes each account's latest plan (`Plan.as_json()`) to `account_plans`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dunline.store.contacts import histories

_ACCOUNTS = """
SELECT a.id, a.account_ref, a.currency, a.principal, a.balance, a.due_date, a.opened_on, a.flags,
       a.profile, d.id AS debtor, d.external_id, d.full_name, d.national_id_masked, d.language,
       d.timezone, d.city, d.address_line, d.region, d.country, d.debtor_windows
FROM accounts a JOIN debtors d ON d.id = a.debtor_id
WHERE a.id = ANY($1::bigint[]) ORDER BY a.id"""
_PHONE_TYPES = ("mobile", "landline", "work")


@dataclass(frozen=True)
class StoredAccount:
    """One stored account: its database id, its account document and its history entries (JSON)."""

    account_id: int
    account_ref: str
    document: dict[str, Any]
    history: list[dict[str, Any]]


async def open_accounts(conn: asyncpg.Connection) -> list[int]:
    """Ids of the accounts with a balance left, oldest first."""
    return [r["id"] for r in await conn.fetch("SELECT id FROM accounts WHERE balance > 0 ORDER BY id")]


async def account_id(conn: asyncpg.Connection, account_ref: str) -> int | None:
    found: int | None = await conn.fetchval("SELECT id FROM accounts WHERE account_ref = $1", account_ref)
    return found


def _document(r: asyncpg.Record, phones: list[asyncpg.Record], payments: list[asyncpg.Record]) -> Any:
    facts = dict(r["profile"] or {})
    return {
        **facts,
        "id": r["account_ref"],
        "debtor_id": r["external_id"],
        "language": r["language"],
        "contact": {
            "country": r["country"],
            "region": r["region"],
            "city": r["city"],
            **({"address": r["address_line"]} if 3 <= len(r["address_line"] or "") <= 200 else {}),
            "timezone": r["timezone"],
            "phones": [
                {
                    "number": p["number_e164"],
                    "type": p["kind"] if p["kind"] in _PHONE_TYPES else "mobile",
                    "consent": p["consent"],
                    "role": p["role"],
                    "refused": p["refused"],
                    "wrong_number": p["wrong_number"],
                }
                for p in phones
            ],
            "flags": list(r["flags"]),
            "debtor_windows": r["debtor_windows"] or [],
        },
        "identity": {
            **facts.get("identity", {}),
            "name": r["full_name"],
            "national_id": r["national_id_masked"],
        },
        "loan": {
            **facts.get("loan", {}),
            "principal": str(r["principal"]),
            "currency": r["currency"],
            "start": r["opened_on"].isoformat() if r["opened_on"] else None,
            "due_date": r["due_date"].isoformat(),
            "balance": str(r["balance"]),
        },
        "payments": [{"at": p["paid_at"].isoformat(), "amount": str(p["amount"])} for p in payments],
    }


def _entry(h: Mapping[str, Any]) -> dict[str, Any]:
    promise = h.get("promise") or {}
    out = {
        "at": h["at"].isoformat(),
        "channel": h["channel"],
        "direction": h["direction"],
        "result": h["result"],
        "phone": h.get("phone"),
        "kind": h.get("kind"),
        "template": h.get("template"),
    }
    if promise.get("date"):
        out["promise"] = {"date": promise["date"], "amount": promise.get("amount")}
    return out


async def load_documents(
    conn: asyncpg.Connection, account_ids: Sequence[int], *, since: datetime
) -> list[StoredAccount]:
    """The accounts' documents and their history since `since`, oldest first (5 queries in all)."""
    ids = list(account_ids)
    rows = await conn.fetch(_ACCOUNTS, ids)
    phones: dict[int, list[asyncpg.Record]] = {}
    for p in await conn.fetch(
        "SELECT debtor_id, number_e164, kind, consent, role, refused, wrong_number FROM phones"
        " WHERE debtor_id = ANY($1::bigint[]) ORDER BY priority, id",
        [r["debtor"] for r in rows],
    ):
        phones.setdefault(p["debtor_id"], []).append(p)
    paid: dict[int, list[asyncpg.Record]] = {}
    for p in await conn.fetch(
        "SELECT account_id, paid_at, amount FROM payments WHERE account_id = ANY($1::bigint[])"
        " ORDER BY paid_at, id",
        ids,
    ):
        paid.setdefault(p["account_id"], []).append(p)
    history = await histories(conn, ids, since)
    return [
        StoredAccount(
            r["id"],
            r["account_ref"],
            _document(r, phones.get(r["debtor"], []), paid.get(r["id"], [])),
            [_entry(h) for h in sorted(history.get(r["id"], []), key=lambda h: h["at"])],
        )
        for r in rows
    ]


async def store_plans(
    conn: asyncpg.Connection, plans: Sequence[tuple[int, Mapping[str, Any]]], at: datetime
) -> None:
    """Write each account's plan (`Plan.as_json()`, replacing the previous one) in the caller's
    transaction; its earliest step becomes next_at / next_channel / next_template."""
    records = []
    for account_id, doc in plans:
        first = min(doc["steps"], key=lambda s: datetime.fromisoformat(s["at"])) if doc["steps"] else None
        records.append(
            (
                account_id,
                at,
                doc["score"],
                doc["tier"],
                doc["variant"],
                doc["stage"],
                doc["reasons"],
                doc["steps"],
                datetime.fromisoformat(first["at"]) if first else None,
                first["channel"] if first else None,
                first["template"] if first else None,
            )
        )
    await conn.executemany(
        """
        INSERT INTO account_plans (account_id, planned_at, score, tier, variant, stage, reasons, steps,
                                   next_at, next_channel, next_template)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11)
        ON CONFLICT (account_id) DO UPDATE SET
            planned_at = EXCLUDED.planned_at, score = EXCLUDED.score, tier = EXCLUDED.tier,
            variant = EXCLUDED.variant, stage = EXCLUDED.stage, reasons = EXCLUDED.reasons,
            steps = EXCLUDED.steps, next_at = EXCLUDED.next_at, next_channel = EXCLUDED.next_channel,
            next_template = EXCLUDED.next_template
        """,
        records,
    )


async def drop_plans(conn: asyncpg.Connection, account_ids: Sequence[int]) -> None:
    """Forget the plans of accounts that could not be planned (no campaign may act on a stale plan)."""
    if account_ids:
        await conn.execute(
            "DELETE FROM account_plans WHERE account_id = ANY($1::bigint[])", list(account_ids)
        )
