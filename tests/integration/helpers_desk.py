"""Accounts with a due plan step and started campaigns, for the live desk and trunk tests."""

from __future__ import annotations

import json
from typing import Any

from dunline.dialer.campaign_spec import parse_spec
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store import campaigns as store
from dunline.store.accounts import import_portfolio
from dunline.store.profiles import store_plans


async def seed(
    pool: Any,
    ref: str,
    number: str,
    tier: str,
    channel: str,
    due: Any,
    *,
    template: str = "negotiation_call",
    consent: bool = True,
) -> int:
    doc = {
        "id": ref,
        "contact": {"country": "US", "region": "CA", "timezone": "America/Los_Angeles",
                    "phones": [{"number": number, "type": "mobile", "consent": consent}]},
        "identity": {"name": f"Desk {ref}"},
        "loan": {"principal": "900.00", "balance": "640.00", "due_date": "2026-09-15"},
    }  # fmt: skip
    parsed = parse_accounts_json(json.dumps([doc]))
    assert parsed.ok, parsed.errors
    await import_portfolio(pool, parsed.rows, upsert=True)
    aid: int = await pool.fetchval("SELECT id FROM accounts WHERE account_ref = $1", ref)
    step = {"at": due.isoformat(), "channel": channel, "template": template, "reason": "test"}
    plan = {"score": 520, "tier": tier, "variant": "champion", "stage": "mid", "reasons": [], "steps": [step]}
    async with pool.acquire() as conn:
        await store_plans(conn, [(aid, plan)], due)
    return aid


async def campaign(pool: Any, name: str, mode: str, tier: str) -> int:
    spec = parse_spec({"name": name, "mode": mode, "tiers": [tier]})
    async with pool.acquire() as conn:
        cid = await store.create(conn, spec.model_dump(mode="json"))
        await store.move(conn, cid, "start")
    return cid
