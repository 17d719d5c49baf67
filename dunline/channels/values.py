"""The values that fill a script for one account (texts, letters): who, how much, since when, the plan
offered (`strategies.offers`), the legal step its lender configured, the latest promise.

A value the account cannot give is left out, so `scripts.render` names it and the step is not sent
half-filled (an interest rate the lender never gave, a legal step nobody configured).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from dunline.channels.letter_layout import long_date, money
from dunline.config.schema import Settings
from dunline.store.accounts import AccountView
from dunline.strategies.offers import Offer, offer


@dataclass(frozen=True)
class StepValues:
    values: dict[str, str]
    offer: Offer | None
    lang: str


def lang_of(acc: AccountView) -> str:
    return "zh" if acc.language.startswith("zh") else "en"


def short_date(day: date, lang: str) -> str:
    return f"{day:%Y年%m月%d日}" if lang == "zh" else f"{day:%b %d, %Y}"


async def step_values(
    conn: asyncpg.Connection | asyncpg.Pool, acc: AccountView, settings: Settings, today: date
) -> StepValues:
    lang = lang_of(acc)
    facts: dict[str, Any] = (
        await conn.fetchval("SELECT profile FROM accounts WHERE id = $1", acc.account_id) or {}
    )
    values = {
        "company": settings.ivr.company_name,
        "callback": settings.ivr.callback_number,
        "name": acc.full_name,
        "amount": money(acc.balance, acc.currency, lang),
        "days": str(acc.days_overdue),
        "ref_last4": str(acc.account_ref)[-4:],
        "due_date": short_date(acc.due_date, lang),
    }
    loan = facts.get("loan") or {}
    if loan.get("interest_rate") is not None:
        values["interest_rate"] = f"{Decimal(str(loan['interest_rate'])):g}"
    if loan.get("late_fee") is not None:
        values["late_fee"] = money(Decimal(str(loan["late_fee"])), acc.currency, lang)
    plan = offer(acc.balance, today) if acc.balance > 0 else None
    if plan is not None:
        values["plan_amount"] = money(plan.monthly, acc.currency, lang)
        values["plan_months"] = str(plan.months)
    legal = facts.get("legal_step")
    days = settings.letters.plan_reply_days
    if legal:
        values["legal_action"] = str(legal["action"])
        days = int(legal.get("after_days") or days)
    values["deadline"] = long_date(today + timedelta(days=days), lang)
    promise = await conn.fetchrow(
        "SELECT d, a FROM (SELECT detail->'slots'->>'date' AS d, detail->'slots'->>'amount' AS a, at"
        " FROM outcomes WHERE account_id = $1 AND outcome = 'promise_to_pay' UNION ALL"
        " SELECT detail->'promise'->>'date', detail->'promise'->>'amount', at FROM contact_ledger"
        " WHERE account_id = $1 AND event = 'contact' AND detail ? 'promise') p ORDER BY at DESC LIMIT 1",
        acc.account_id,
    )
    if promise is not None and promise["d"]:
        values["promise_date"] = short_date(date.fromisoformat(promise["d"]), lang)
        if promise["a"]:
            values["promise_amount"] = money(Decimal(promise["a"]), acc.currency, lang)
    return StepValues(values, plan, lang)
