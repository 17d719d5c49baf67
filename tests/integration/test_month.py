"""The seed's three debtors through a simulated month on the real parts: PostgreSQL, the compliance
gate, the planner replanning every contact, the step runner with real letters (PDF/A) and real texts
over SMPP (the smpp34 SMSC simulator answers with receipts), the print-and-mail export. Calls are the
one part simulated here: a due call step is cleared by the gate and recorded as unanswered, as the
dialer would (calls through the PBX are tested in test_calls, test_campaigns and the desk tests).

- Xiao Li (low risk, a few days late) gets gentle reminders (texts, IVR calls), does not answer, and
  after the early stage's silence gets the plan-offer letter;
- Xiao Wang (high risk) starts firm: no gentle reminder, the plan offer and the consequences text
  from the first days;
- Zhang (two months late, a legal step configured) ignores texts and calls, crosses 61 days into the
  late stage, gets the legal warning letter, answers it by text with a dated promise, pays on that
  day, and the promise is judged kept; he is contacted no more.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from helpers_wait import eventually
from test_sms import Smsc, _link

from dunline.channels.letters import LetterService
from dunline.channels.sms import SmsService
from dunline.channels.steps import StepRunner
from dunline.config.schema import SmsSettings
from dunline.controller.app import open_database
from dunline.controller.planning import replan
from dunline.controller.texts import text_step
from dunline.dialer.clearance import clear
from dunline.portfolio.json_form import parse_accounts_json
from dunline.portfolio.payments_csv import PaymentRow
from dunline.store import attempts
from dunline.store.accounts import import_portfolio
from dunline.store.console import debtor_360
from dunline.store.payments import import_payments
from dunline.web.debtor import promises

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration
START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai, a Tuesday
SLOTS = (9, 10, 12, 18, 19)  # local hours the ladders' steps fall in (09:00 letters ... 18:30 calls)
PHONES = {"XL": "+8613800138011", "XW": "+8613800138012", "ZH": "+8613800138013"}


def _doc(
    ref: str, name: str, due: str, score: int, ratio: float, episodes: int, **extra: Any
) -> dict[str, Any]:
    return {
        "id": ref, "language": "zh",
        "contact": {"country": "CN", "city": "上海", "timezone": "Asia/Shanghai",
                    "address": "浦东新区世纪大道8号",
                    "phones": [{"number": PHONES[ref], "type": "mobile", "consent": True}]},
        "identity": {"name": name, "age": 31},
        "loan": {"principal": "10000.00", "balance": "6000.00", "due_date": due, "currency": "CNY",
                 "interest_rate": "18", "start": "2025-06-01"},
        "behaviour": {"overdue_count": episodes, "on_time_ratio": ratio},
        "credit": {"score": score, "trend": "falling" if score < 500 else "flat"},
        "personal": {"income_stability": "unstable" if score < 500 else "stable"},
        **extra,
    }  # fmt: skip


DOCS = [
    _doc("XL", "小李", "2026-11-26", 720, 0.95, 0),
    _doc("XW", "小王", "2026-11-21", 420, 0.4, 5),
    _doc("ZH", "张先生", "2026-10-05", 560, 0.6, 2,
         legal_step={"action": "向人民法院提起诉讼", "after_days": 10}),
]  # fmt: skip


async def _unanswered_calls(pool: Any, ids: dict[str, int], now: datetime) -> None:
    """Every due call step: the gate's verdict, then (allowed) an attempt nobody answers."""
    for ref, aid in ids.items():
        plan = await pool.fetchrow(
            "SELECT next_channel, next_template, next_at FROM account_plans WHERE account_id = $1", aid
        )
        if plan is None or plan["next_channel"] not in ("ivr_call", "agent_call") or plan["next_at"] > now:
            continue
        phone = await pool.fetchval("SELECT id FROM phones WHERE number_e164 = $1", PHONES[ref])
        kind = "prerecorded" if plan["next_channel"] == "ivr_call" else "agent"
        got = await clear(
            pool,
            account_id=aid,
            phone_id=phone,
            number=PHONES[ref],
            campaign_id=None,
            kind=kind,
            caller_id="+862150000000",
            at=now,
            template=plan["next_template"],
        )
        if got.attempt_id is not None:
            for state in ("dialing", "ringing", "no_answer"):
                await attempts.transition(pool, got.attempt_id, state, now + timedelta(seconds=30))
        await replan(pool, [aid], now)


async def _zhang(pool: Any, smsc: Smsc, gateway: Any, aid: int, now: datetime, story: Any) -> None:
    """Zhang answers the legal warning letter by text two days after it was made, then pays on the day
    he promised; the bank file and the lender's balance arrive that evening."""
    legal = await pool.fetchval(
        "SELECT created_at FROM letters WHERE account_id = $1 AND template = 'legal_warning_letter'", aid
    )
    if story.promise is None and legal is not None and now >= legal + timedelta(days=2):
        await smsc.reply(PHONES["ZH"], "收到你们的信了，我下周五还6000")
        query = "SELECT count(*) FROM sms_inbound WHERE number_e164 = $1"
        await eventually("Zhang's reply stored", lambda: pool.fetchval(query, PHONES["ZH"]))
        await gateway.drained()
        story.promise = await pool.fetchval(
            "SELECT detail->'promise' FROM contact_ledger WHERE account_id = $1 AND direction = 'inbound'"
            " AND event = 'contact'",
            aid,
        )
        assert story.promise is not None, "the dated promise by text was not stored"
        story.pay_on = datetime.fromisoformat(story.promise["date"] + "T15:00:00+08:00")
    if story.pay_on is not None and story.paid_known is None and now >= story.pay_on + timedelta(hours=1):
        row = PaymentRow(1, "ZH", story.pay_on, Decimal("6000.00"), "bank-zh-1")
        await import_payments(pool, [row], source="bank file")
        paid = {**DOCS[2], "loan": {**DOCS[2]["loan"], "balance": "0.00"}}
        await import_portfolio(pool, parse_accounts_json(json.dumps([paid])).rows, upsert=True)
        await replan(pool, [aid], now)
        story.paid_known = now


async def test_a_month_of_three_debtors(stack: Stack) -> None:
    pool, _ = await open_database(stack.settings)
    try:
        parsed = parse_accounts_json(json.dumps(DOCS))
        assert parsed.ok, parsed.errors
        await import_portfolio(pool, parsed.rows, upsert=True)
        rows = await pool.fetch(
            "SELECT id, account_ref FROM accounts WHERE account_ref = ANY($1::text[])", list(PHONES)
        )
        ids = {r["account_ref"]: r["id"] for r in rows}
        clock = SimpleNamespace(now=START)
        smsc = Smsc()
        service = SmsService(pool, SmsSettings(port=smsc.port), lambda: clock.now,
                             on_reply=lambda accounts: replan(pool, accounts, clock.now))  # fmt: skip
        rt: Any = SimpleNamespace(pool=pool, sms=service, settings=stack.settings)

        async def text(account_id: int, template: str, at: datetime) -> Any:
            return await text_step(rt, account_id, template, at)

        letters = LetterService(pool, stack.settings)
        runner = StepRunner(pool, letters, lambda: clock.now, text=text, node="month",
                            replan=lambda accounts, at: replan(pool, accounts, at))  # fmt: skip
        await replan(pool, list(ids.values()), START)
        story = SimpleNamespace(promise=None, pay_on=None, paid_known=None)
        async with _link(smsc, service) as gateway:
            for day in range(30):
                # the nightly `dunline plan`, then the day's slots (the runner replans after each step)
                await replan(pool, list(ids.values()), START + timedelta(days=day))
                for hour in SLOTS:
                    clock.now = START + timedelta(days=day, hours=hour - 8, minutes=31)
                    await runner.run_once()
                    await _unanswered_calls(pool, ids, clock.now)
                await gateway.drained()
                await letters.export(stack.settings.var_dir / "month-mail", clock.now)
                await _zhang(pool, smsc, gateway, ids["ZH"], clock.now, story)

        async def used(ref: str, channel: str | None = None) -> list[str]:
            rows = await pool.fetch(
                "SELECT template, created_at AS at FROM attempts WHERE account_id = $1 UNION ALL"
                " SELECT detail->>'template', at FROM contact_ledger WHERE account_id = $1"
                " AND event = 'contact' AND direction = 'outbound' AND channel <> 'call' ORDER BY 2",
                ids[ref],
            )
            return [r["template"] for r in rows]

        li, wang, zhang = await used("XL"), await used("XW"), await used("ZH")
        # Xiao Li: gentle reminders first, then the plan offer
        assert li[:2] == ["reminder_sms", "reminder_call"] or li[0] == "reminder_sms", li
        assert "plan_offer_letter" in li and li.index("plan_offer_letter") > li.index("reminder_call"), li
        # Xiao Wang: firm from the start
        assert "reminder_sms" not in wang and "reminder_call" not in wang, wang
        assert {"plan_offer_letter", "consequences_sms"} <= set(wang[:4]), wang
        # Zhang: the legal warning letter, his promise by text, kept; nothing after he paid
        assert "legal_warning_letter" in zhang, zhang
        before_letter = zhang[: zhang.index("legal_warning_letter")]
        assert any(t.endswith("_sms") for t in before_letter), zhang  # texts he ignored
        assert any(t.endswith("_call") for t in before_letter), zhang  # calls he did not answer
        assert story.promise is not None and story.promise["amount"] == "6000.00"
        d = await debtor_360(pool, "ZH", now=clock.now)
        assert d is not None
        judged = promises(d, clock.now)
        assert [p["status"] for p in judged] == ["kept"], judged
        plan = await pool.fetchval("SELECT stage FROM account_plans WHERE account_id = $1", ids["ZH"])
        assert plan is None  # paid off: no plan, so no step
        after = await pool.fetchval(
            "SELECT count(*) FROM verdicts WHERE account_id = $1 AND allowed AND at > $2", ids["ZH"],
            story.paid_known,
        )  # fmt: skip
        assert after == 0  # from the day the payment is known, no contact
        # every letter went out in a batch; none was made twice for a step
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM letters WHERE account_id = ANY($1::bigint[]) AND state = 'queued'",
                list(ids.values()),
            )
            == 0
        )
        dupes = await pool.fetchval(
            "SELECT count(*) FROM (SELECT step_key FROM letters WHERE step_key IS NOT NULL GROUP BY step_key"
            " HAVING count(*) > 1) d"
        )
        assert dupes == 0
    finally:
        await pool.close()
