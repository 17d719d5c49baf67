"""Texts through a real SMPP link: aiosmpplib bound as a transceiver to an SMSC simulator (the smpp34
package's server) with scripted outcomes per number, and real PostgreSQL. Covers: the gate before
anything is written (TCPA: no autodialed text to a mobile without consent), GSM-7 and UCS-2 parts, one
text per step whatever is retried, the SMSC's id stored and receipts matched by it (TLV and text-only
receipts, a non-final receipt before the final one, a receipt for an unknown id), a refused submit,
and a reply STOP in Chinese that opts the number out before the next text, which the gate then blocks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from helpers_desk import campaign, seed
from helpers_wait import eventually

from dunline.channels.smpp import SmppGateway
from dunline.channels.sms import SmsService
from dunline.config.schema import SmsSettings
from dunline.controller.app import Controller, open_database
from dunline.controller.campaigns import run_stored
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store.accounts import import_portfolio

if TYPE_CHECKING:
    from conftest import Stack

smpp34 = pytest.importorskip("smpp34", reason="the smpp34 package (the SMSC simulator) is not installed")
pytestmark = pytest.mark.integration

DELIVERED = "+14155553001"  # receipt DELIVRD with TLVs
UNDELIVERED = "+14155553002"  # receipt UNDELIV, text only (no TLV): the text fallback
SLOW = "+14155553003"  # ENROUTE first, DELIVRD later
REFUSED = "+14155553004"  # submit_sm refused (invalid destination)
NO_CONSENT = "+14155553005"  # a mobile without consent: the gate blocks before anything is written
THROTTLED = "+14155553006"  # the SMSC says ESME_RTHROTTLED the first time, then takes it
CHINESE = "+8613800138123"  # UCS-2; the debtor answers 退订
EXPIRING = "+14155553007"  # the SMSC gives up: receipt EXPIRED


class Smsc:
    """The operator side: accepts or refuses each submit_sm per destination, sends receipts and replies."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.server = smpp34.Server("127.0.0.1", self.port, system_id="sim")
        self.esme: Any = None
        self.submits: list[dict[str, Any]] = []
        self._ids = itertools.count(1000)
        self.prefix = f"sim{self.port}-"  # one simulator's ids are its own
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        while True:
            ev = await self.server.next()
            if isinstance(ev, smpp34.Esme):
                self.esme = ev
            elif isinstance(ev, smpp34.SubmitSmEvent):
                self._answer(ev)

    def _answer(self, ev: Any) -> None:
        dest = "+" + ev.destination_addr
        # a long text comes whole in the message_payload TLV (0x0424) with an empty short_message
        payload = next((bytes(t.value) for t in ev.tlvs or [] if t.tag == 0x0424), b"")
        text = bytes(ev.short_message) or payload
        self.submits.append({"to": dest, "coding": ev.data_coding, "text": text})
        if dest == REFUSED:
            ev.reject(smpp34.ESME_RINVDSTADR)
            return
        if dest == THROTTLED and sum(1 for s in self.submits if s["to"] == THROTTLED) == 1:
            ev.reject(smpp34.ESME_RTHROTTLED)
            return
        mid = f"{self.prefix}{next(self._ids)}"
        ev.accept(mid)
        task = asyncio.create_task(self._receipts(dest, mid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _receipts(self, dest: str, mid: str) -> None:
        await asyncio.sleep(0.2)
        if dest == EXPIRING:
            await self.receipt(
                dest, f"id:{mid} sub:001 dlvrd:000 stat:EXPIRED err:000 text:x", state=3, mid=mid
            )
        elif dest == UNDELIVERED:
            await self.receipt(dest, f"id:{mid} sub:001 dlvrd:000 stat:UNDELIV err:001 text:x", tlvs=False)
        elif dest == SLOW:
            await self.receipt(
                dest, f"id:{mid} sub:001 dlvrd:000 stat:ENROUTE err:000 text:x", state=1, mid=mid
            )
            await asyncio.sleep(0.5)
            await self.receipt(
                dest, f"id:{mid} sub:001 dlvrd:001 stat:DELIVRD err:000 text:x", state=2, mid=mid
            )
        else:
            await self.receipt(
                dest, f"id:{mid} sub:001 dlvrd:001 stat:DELIVRD err:000 text:x", state=2, mid=mid
            )

    async def receipt(
        self, dest: str, text: str, *, tlvs: bool = True, state: int = 2, mid: str = ""
    ) -> None:
        extra = []
        if tlvs:
            extra = [
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, mid.encode() + b"\0"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([state])),
            ]
        await self.esme.deliver_sm(
            "Dunline", text.encode(), source_addr=dest.lstrip("+"), esm_class=0x04, tlvs=extra
        )

    async def reply_in_parts(self, number: str, parts: list[str]) -> None:
        """One reply as a concatenated SMS: each part with the 8-bit reference UDH (esm_class 0x40)."""
        ref = next(self._ids) % 256
        for i, part in enumerate(parts, 1):
            udh = bytes([0x05, 0x00, 0x03, ref, len(parts), i])
            await self.esme.deliver_sm(
                "Dunline", udh + part.encode(), source_addr=number.lstrip("+"), esm_class=0x40
            )

    async def reply(self, number: str, text: str) -> None:
        coding = 8 if any(ord(c) > 127 for c in text) else 0
        body = text.encode("utf-16-be") if coding == 8 else text.encode()
        await self.esme.deliver_sm("Dunline", body, source_addr=number.lstrip("+"), data_coding=coding)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _link(smsc: Smsc, service: SmsService) -> AsyncIterator[SmppGateway]:
    await smsc.server.start()
    runner = asyncio.create_task(smsc.run())
    settings = SmsSettings(port=smsc.port)
    gateway = SmppGateway(settings, service)
    try:
        await gateway.start()
        service.link = gateway
        yield gateway
    finally:
        await gateway.close()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        await smsc.server.stop()


async def _account(pool: Any, ref: str, number: str, country: str, consent: bool) -> int:
    region, tz = ("CA", "America/Los_Angeles") if country == "US" else (None, "Asia/Shanghai")
    doc = {
        "id": ref,
        "contact": {
            "country": country,
            "region": region,
            "timezone": tz,
            "phones": [{"number": number, "type": "mobile", "consent": consent}],
        },
        "identity": {"name": f"Text {ref}"},
        "language": "zh" if country == "CN" else "en",
        "loan": {"principal": "500.00", "balance": "320.00", "due_date": "2026-09-15", "currency": "USD"},
    }
    parsed = parse_accounts_json(json.dumps([doc]))
    assert parsed.ok, parsed.errors
    await import_portfolio(pool, parsed.rows, upsert=True)
    aid: int = await pool.fetchval("SELECT id FROM accounts WHERE account_ref = $1", ref)
    return aid


async def test_texts_receipts_and_replies_through_smpp(stack: Stack) -> None:
    pool, _ = await open_database(stack.settings)
    try:
        accounts = {
            n: await _account(pool, f"SMS-{i}", n, "CN" if n == CHINESE else "US", n != NO_CONSENT)
            for i, n in enumerate(
                (DELIVERED, UNDELIVERED, SLOW, REFUSED, NO_CONSENT, CHINESE, THROTTLED, EXPIRING)
            )
        }
        smsc = Smsc()
        # 17:00 in California is 09:00 the next day in Shanghai: inside both windows
        service = SmsService(pool, SmsSettings(port=smsc.port), lambda: stack.clock() + timedelta(hours=6))
        async with _link(smsc, service):
            blocked = await service.send(
                accounts[NO_CONSENT], NO_CONSENT, "Your payment is due.", step_key="s-nc"
            )
            assert not blocked.verdict.allowed and "tcpa-autodialer" in blocked.verdict.rules
            assert (
                await pool.fetchval(
                    "SELECT count(*) FROM sms_messages WHERE account_id = $1", accounts[NO_CONSENT]
                )
                == 0
            )

            sent = {}
            for n in (DELIVERED, UNDELIVERED, SLOW, REFUSED, THROTTLED, EXPIRING):
                sent[n] = await service.send(
                    accounts[n], n, "Your payment of $320 is due.", step_key=f"s-{n}"
                )
                assert sent[n].verdict.allowed and sent[n].new and sent[n].parts == 1
            zh = await service.send(
                accounts[CHINESE], CHINESE, "您好，您的账单已逾期，请尽快还款。", lang="zh", step_key="s-zh"
            )
            assert zh.verdict.allowed and zh.parts == 1
            again = await service.send(
                accounts[DELIVERED], DELIVERED, "Your payment of $320 is due.", step_key=f"s-{DELIVERED}"
            )
            assert again.message_id == sent[DELIVERED].message_id and not again.new  # a step is texted once

            async def states() -> dict[str, str]:
                rows = await pool.fetch(
                    "SELECT number_e164, state FROM sms_messages WHERE step_key LIKE 's-%'"
                )
                return {r["number_e164"]: r["state"] for r in rows}

            want = {
                THROTTLED: "delivered",  # offered again after the SMSC's "throttled"
                DELIVERED: "delivered",
                UNDELIVERED: "undelivered",
                SLOW: "delivered",
                REFUSED: "failed",
                CHINESE: "delivered",
                EXPIRING: "expired",
            }
            await eventually("every message final", lambda: _equal(states, want))
            assert len([s for s in smsc.submits if s["to"] == DELIVERED]) == 1
            assert len([s for s in smsc.submits if s["to"] == THROTTLED]) == 2
            zh_submit = next(s for s in smsc.submits if s["to"] == CHINESE)
            assert zh_submit["coding"] == 8 and zh_submit["text"].decode("utf-16-be").endswith("回复TD退订")
            en_submit = next(s for s in smsc.submits if s["to"] == DELIVERED)
            assert en_submit["text"].decode().endswith("Reply STOP to opt out.")
            slow = [
                r["state"]
                for r in await pool.fetch(
                    "SELECT r.state FROM sms_receipts r JOIN sms_messages m ON m.id = r.message_id"
                    " WHERE m.number_e164 = $1 ORDER BY r.id",
                    SLOW,
                )
            ]
            assert slow == ["ENROUTE", "DELIVRD"]
            failed = await pool.fetchval("SELECT error FROM sms_messages WHERE number_e164 = $1", REFUSED)
            assert "INVDSTADR" in failed

            await smsc.receipt(
                DELIVERED, "id:nobody sub:001 dlvrd:001 stat:DELIVRD err:000 text:x", mid="nobody"
            )
            await eventually(
                "the stray receipt kept",
                lambda: pool.fetchval(
                    "SELECT count(*) FROM sms_receipts WHERE smsc_id = 'nobody' AND message_id IS NULL"
                ),
            )

            await smsc.reply(CHINESE, "退订")

            async def opted_out() -> bool:
                flags = await pool.fetchval("SELECT flags FROM accounts WHERE id = $1", accounts[CHINESE])
                return "sms_opt_out" in flags

            await eventually("the opt-out set", opted_out)
            reply = await pool.fetchrow(
                "SELECT intent, opt_out, needs_person FROM sms_inbound WHERE number_e164 = $1", CHINESE
            )
            assert (reply["intent"], reply["opt_out"], reply["needs_person"]) == ("opt_out", True, False)
            after = await service.send(accounts[CHINESE], CHINESE, "再次提醒", lang="zh", step_key="s-zh-2")
            assert not after.verdict.allowed and after.verdict.rules == ("opt-out-sms",)

            await smsc.reply(DELIVERED, "who is this?")
            await eventually(
                "the unclear reply queued for a person",
                lambda: pool.fetchval(
                    "SELECT count(*) FROM sms_inbound WHERE number_e164 = $1 AND needs_person", DELIVERED
                ),
            )
    finally:
        await pool.close()


async def _equal(probe: Callable[[], Awaitable[dict[str, str]]], want: dict[str, str]) -> bool:
    return await probe() == want


async def test_an_sms_campaign_texts_each_due_step_once(stack: Stack) -> None:
    """An SMS-only campaign texts each account whose plan's next step is an SMS, through the gate:
    the consented mobile gets the filled reminder script (opt-out notice once), the one without
    consent is blocked and queued again; a second campaign over the same plan step sends nothing new."""
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE status IN ('running', 'paused')")
        now = rt.dialer.clock()
        due = now - timedelta(minutes=1)
        ok = await seed(rt.pool, "SMC-1", "+14155553011", "t_sms", "sms", due, template="reminder_sms")
        await seed(
            rt.pool, "SMC-2", "+14155553012", "t_sms", "sms", due, template="reminder_sms", consent=False
        )
        smsc = Smsc()
        rt.sms = SmsService(rt.pool, SmsSettings(port=smsc.port), rt.dialer.clock)
        async with _link(smsc, rt.sms):
            first = await campaign(rt.pool, "texts", "sms", "t_sms")
            summary = await run_stored(rt, first, until_idle=True, tick_s=0.2)
            assert (summary.placed, summary.blocked) == (1, 1), summary.as_json()
            row = await rt.pool.fetchrow(
                "SELECT body, parts, state FROM sms_messages WHERE account_id = $1", ok
            )
            assert row["body"].startswith("Dunline Recovery Services: Hi Desk SMC-1")
            assert "$640.00" in row["body"] and row["body"].count("Reply STOP to opt out.") == 1
            await eventually(
                "delivered",
                lambda: rt.pool.fetchval(
                    "SELECT state = 'delivered' FROM sms_messages WHERE account_id = $1", ok
                ),
            )
            await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE id = $1", first)
            second = await campaign(rt.pool, "texts again", "sms", "t_sms")
            await run_stored(rt, second, until_idle=True, tick_s=0.2)
            await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE id = $1", second)
            assert len([s for s in smsc.submits if s["to"] == "+14155553011"]) == 1
            assert await rt.pool.fetchval("SELECT count(*) FROM sms_messages WHERE account_id = $1", ok) == 1


PROMISER = "+14155553021"  # answers a text with a dated promise
WRONG = "+14155553022"  # "wrong number"
LONG = "+14155553023"  # a reply in two parts (concatenated SMS)


async def test_the_step_runner_texts_due_steps_and_replies_change_the_account(stack: Stack) -> None:
    """A text step due in any campaign is texted by the step runner (once); a dated promise in a reply
    is tracked (ledger promise, outcome, the account planned again), "wrong number" marks the number,
    a reply in two parts is read whole and a call-back request waits for a person."""
    from types import SimpleNamespace

    from dunline.channels.letters import LetterService
    from dunline.channels.steps import StepRunner
    from dunline.controller.planning import replan
    from dunline.controller.texts import text_step

    pool, _ = await open_database(stack.settings)
    try:
        now = stack.clock()
        due = now - timedelta(minutes=5)
        ids = {n: await seed(pool, f"STP-{n[-2:]}", n, "t_steps", "sms", due, template="reminder_sms")
               for n in (PROMISER, WRONG, LONG)}  # fmt: skip
        planned_before = await pool.fetchval("SELECT planned_at FROM account_plans WHERE account_id = $1",
                                             ids[PROMISER])  # fmt: skip
        replanned: list[list[int]] = []

        async def again(accounts: list[int], at: Any = None) -> None:
            replanned.append(accounts)
            await replan(pool, accounts, at or now)

        smsc = Smsc()
        service = SmsService(pool, SmsSettings(port=smsc.port), lambda: now, on_reply=again)
        rt: Any = SimpleNamespace(pool=pool, sms=service, settings=stack.settings)

        async def text(account_id: int, template: str, at: Any) -> Any:
            return await text_step(rt, account_id, template, at)

        runner = StepRunner(pool, LetterService(pool, stack.settings), lambda: now, text=text, replan=again)
        async with _link(smsc, service) as gateway:
            await runner.run_once()
            results = await pool.fetch(
                "SELECT state, result FROM plan_steps WHERE account_id = ANY($1::bigint[])",
                list(ids.values()),
            )
            assert [(r["state"], r["result"]) for r in results] == [("done", "sent")] * 3
            await runner.run_once()  # done steps are not claimed again: one text each
            assert sorted(s["to"] for s in smsc.submits if s["to"] in ids) == sorted(ids)
            from aiosmpplib.codec import GSM7BitCodec

            body = GSM7BitCodec().decode(next(s for s in smsc.submits if s["to"] == PROMISER)["text"])[0]
            assert "Desk STP-21" in body and "$640.00" in body and body.endswith("Reply STOP to opt out.")
            template = await pool.fetchval(
                "SELECT detail->>'template' FROM contact_ledger WHERE account_id = $1 AND channel = 'sms'"
                " AND event = 'contact'",
                ids[PROMISER],
            )
            assert template == "reminder_sms"  # the planner counts the template's use

            await smsc.reply(PROMISER, "I will pay 150 on Friday")
            await smsc.reply(WRONG, "wrong number, I don't know this person")
            await smsc.reply_in_parts(LONG, ["Hello, I cannot talk now but ", "please call me back tomorrow"])
            await eventually("three replies stored", lambda: _count(pool, "SELECT count(*) FROM sms_inbound"
                             " WHERE number_e164 = ANY($1::text[])", list(ids), 3))  # fmt: skip
            await gateway.drained()
            promise = await pool.fetchval(
                "SELECT detail->'promise' FROM contact_ledger WHERE account_id = $1 AND direction = 'inbound'"
                " AND event = 'contact'",
                ids[PROMISER],
            )
            assert promise is not None and promise["amount"] == "150.00"
            promised = date.fromisoformat(promise["date"])
            today_la = now.astimezone(ZoneInfo("America/Los_Angeles")).date()
            assert promised.weekday() == 4 and today_la <= promised <= today_la + timedelta(days=7)
            events = {r["event"] for r in await pool.fetch(
                "SELECT event FROM contact_ledger WHERE account_id = $1", ids[PROMISER])}  # fmt: skip
            assert "sms.promise_to_pay" in events
            assert [ids[PROMISER]] in replanned
            planned_after = await pool.fetchval(
                "SELECT planned_at FROM account_plans WHERE account_id = $1", ids[PROMISER]
            )
            assert planned_after is not None and planned_after > planned_before
            assert await pool.fetchval("SELECT wrong_number FROM phones WHERE number_e164 = $1", WRONG)
            long = await pool.fetchrow(
                "SELECT body, intent, needs_person FROM sms_inbound WHERE number_e164 = $1", LONG
            )
            assert long["body"] == "Hello, I cannot talk now but please call me back tomorrow"
            assert long["needs_person"] and long["intent"] in ("callback_later", "request_agent")
    finally:
        await pool.close()


async def _count(pool: Any, query: str, arg: Any, want: int) -> bool:
    return int(await pool.fetchval(query, arg)) == want
