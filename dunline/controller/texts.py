"""Texting the members of an sms campaign: the plan step's SMS script, filled for the account, sent
through the controller's SMS link (`channels.sms.SmsService`, which asks the gate first).

A text goes only to the debtor's own number (the account's primary phone: never a contact's, since an
SMS names the debt). The step is texted once: the outbox row is unique by a key made of the account,
the template and the plan step's due time; when the plan moved on since the member was queued (another
step is next now), nothing is sent. A script whose fields the account cannot fill (a plan offer with no
offer computed yet, say) is not sent half-filled: the member ends `no_text` and the log names the
fields.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from dunline.controller.app import Runtime
from dunline.dialer.campaign import Texted, Texter
from dunline.store import campaigns as store
from dunline.store.accounts import AccountView, load_account
from dunline.strategies.scripts import ScriptError, load_scripts, render

log = logging.getLogger("dunline.texts")
SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€"}


def money(amount: Decimal, currency: str, lang: str) -> str:
    if lang == "zh" or currency == "CNY":
        return f"{amount:,.2f}元" if currency == "CNY" else f"{amount:,.2f} {currency}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def text_values(acc: AccountView, company: str, callback: str) -> dict[str, str]:
    lang = "zh" if acc.language.startswith("zh") else "en"
    due = f"{acc.due_date:%Y年%m月%d日}" if lang == "zh" else f"{acc.due_date:%b %d, %Y}"
    return {
        "company": company,
        "name": acc.full_name,
        "amount": money(acc.balance, acc.currency, lang),
        "days": str(acc.days_overdue),
        "ref_last4": str(acc.account_ref)[-4:],
        "due_date": due,
        "callback": callback,
    }


def texter_for(rt: Runtime) -> Texter:
    async def text(member: store.Member) -> Texted:
        sms = rt.sms
        if sms is None:
            raise RuntimeError("no SMS link on this controller (sms.enabled is off)")
        acc = await load_account(rt.pool, member.account_id)
        if acc is None or acc.phone_e164 is None:
            return Texted("no_number")
        plan: Any = await rt.pool.fetchrow(
            "SELECT next_channel, next_template, next_at FROM account_plans WHERE account_id = $1",
            member.account_id,
        )
        if plan is None or plan["next_channel"] != "sms" or plan["next_template"] != member.template:
            return Texted("plan_moved")
        lang = "zh" if acc.language.startswith("zh") else "en"
        ivr = rt.settings.ivr
        try:
            script = load_scripts(lang)[str(member.template)]
            body = render(script, text_values(acc, ivr.company_name, ivr.callback_number))
        except (KeyError, ScriptError) as exc:
            log.warning("account %s: template %s cannot be texted: %s", acc.account_id, member.template, exc)
            return Texted("no_text")
        key = f"sms:{acc.account_id}:{member.template}:{plan['next_at'].isoformat()}"
        sent = await sms.send(acc.account_id, acc.phone_e164, body, lang=lang, step_key=key)
        if sent.message_id is None:
            return Texted("blocked", sent.verdict.next_allowed_at)
        return Texted("sent")

    return text
