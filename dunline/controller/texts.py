"""Texting a plan step: the step's SMS script, filled for the account, sent through the controller's
SMS link (`channels.sms.SmsService`, which asks the gate first). Used by sms campaigns (`texter_for`)
and by the step runner (`controller.steps`), with the same outbox key: a step is texted once whichever
of them gets to it.

A text goes only to the debtor's own number (the account's primary phone: never a contact's, since an
SMS names the debt). When the plan moved on since the step was queued (another step is next now),
nothing is sent. A script whose fields the account cannot fill (an interest rate the lender never
gave, say) is not sent half-filled: the step ends `no_text` and the log names the fields.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from dunline.channels.steps import step_key
from dunline.channels.values import step_values
from dunline.controller.app import Runtime
from dunline.dialer.campaign import Texted, Texter
from dunline.store import campaigns as store
from dunline.store.accounts import load_account
from dunline.strategies.scripts import ScriptError, load_scripts, render

log = logging.getLogger("dunline.texts")


async def text_step(rt: Runtime, account_id: int, template: str, now: datetime) -> Texted:
    sms = rt.sms
    if sms is None:
        raise RuntimeError("no SMS link on this controller (sms.enabled is off)")
    acc = await load_account(rt.pool, account_id)
    if acc is None or acc.phone_e164 is None:
        return Texted("no_number")
    plan: Any = await rt.pool.fetchrow(
        "SELECT next_channel, next_template, next_at FROM account_plans WHERE account_id = $1", account_id
    )
    if plan is None or plan["next_channel"] != "sms" or plan["next_template"] != template:
        return Texted("plan_moved")
    sv = await step_values(rt.pool, acc, rt.settings, now.date())
    try:
        script = load_scripts(sv.lang)[template]
        body = render(script, sv.values)
    except (KeyError, ScriptError) as exc:
        log.warning("account %s: template %s cannot be texted: %s", acc.account_id, template, exc)
        return Texted("no_text")
    key = step_key("sms", acc.account_id, template, plan["next_at"])
    sent = await sms.send(acc.account_id, acc.phone_e164, body, lang=sv.lang, step_key=key, template=template)
    if sent.message_id is None:
        return Texted("blocked", sent.verdict.next_allowed_at)
    return Texted("sent")


def texter_for(rt: Runtime) -> Texter:
    async def text(member: store.Member) -> Texted:
        return await text_step(rt, member.account_id, str(member.template), rt.dialer.clock())

    return text
