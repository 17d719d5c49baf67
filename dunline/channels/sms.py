"""Texting a debtor: the gate, the outbox row and the SMPP link, and what comes back.

`SmsService.send` asks the gate (channel `sms`, machine-sent), and only when it allows writes the
message (idempotent by `step_key`: a step is texted once, whatever restarts) and its ledger entry in the
same transaction, then hands the text to the link. The link's answers land here (`SmsEvents`): the
SMSC's id, receipts (stored; final ones on the ledger), replies (read by `channels.replies`: an opt-out
sets the `sms_opt_out` hold before anything else; an unclear reply waits for a person).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import asyncpg

from dunline.channels import receipts, replies
from dunline.channels.sms_text import Encoded, encode, with_opt_out
from dunline.compliance.model import Verdict
from dunline.config.schema import SmsSettings
from dunline.dialer.clearance import judge_text
from dunline.store import sms as store

log = logging.getLogger("dunline.sms")
# submit_sm answers that mean "not now": the text is offered again after a pause, then given up
BUSY = frozenset({"ESME_RTHROTTLED", "ESME_RMSGQFUL"})
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)


class Link(Protocol):
    async def submit(self, message_id: uuid.UUID, number: str, body: str, encoded: Encoded) -> None: ...


@dataclass(frozen=True)
class Sent:
    verdict: Verdict
    message_id: uuid.UUID | None  # None: the gate blocked it
    new: bool  # False: this step's text existed already (not sent again)
    parts: int


class SmsService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: SmsSettings,
        clock: Callable[[], datetime],
        link: Link | None = None,
        on_reply: Callable[[list[int]], Awaitable[None]] | None = None,
    ) -> None:
        self.pool = pool
        self.on_reply = on_reply  # the accounts a reply touched: planned again (a reply is a response)
        self.settings = settings
        self.clock = clock
        self.link = link
        self._busy: dict[uuid.UUID, int] = {}  # texts the SMSC refused as busy, and how often
        self._retries: set[asyncio.Task[None]] = set()

    async def _again(self, message_id: uuid.UUID, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        row = await self.pool.fetchrow(
            "SELECT number_e164, body FROM sms_messages WHERE id = $1 AND state = 'sending'", message_id
        )
        if row is not None and self.link is not None:
            await self.link.submit(message_id, row["number_e164"], row["body"], encode(row["body"]))

    async def send(
        self,
        account_id: int,
        number: str,
        body: str,
        *,
        lang: str = "en",
        step_key: str | None = None,
        template: str | None = None,
    ) -> Sent:
        if self.link is None:
            raise RuntimeError("no SMPP link: start the SMS gateway first")
        text = with_opt_out(
            body, self.settings.opt_out_notice.get(lang, self.settings.opt_out_notice.get("en", ""))
        )
        encoded = encode(text)
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            verdict = await judge_text(conn, account_id=account_id, number=number, at=now)
            if not verdict.allowed:
                return Sent(verdict, None, False, encoded.parts)
            mid, new = await store.add(
                conn,
                account_id=account_id,
                number=number,
                body=text,
                encoded=encoded,
                step_key=step_key,
                at=now,
                template=template,
            )
        if new:
            await self.link.submit(mid, number, text, encoded)
        return Sent(verdict, mid, new, encoded.parts)

    # ---- SmsEvents ---------------------------------------------------------------------------------
    async def submitted(self, message_id: uuid.UUID, smsc_id: str | None, error: str | None) -> None:
        if smsc_id:
            self._busy.pop(message_id, None)
            await store.submitted(self.pool, message_id, smsc_id, self.clock())
            return
        tries = self._busy.get(message_id, 0)
        if error in BUSY and tries < len(BACKOFF_S) and self.link is not None:
            # the SMSC is full or throttling: it refused this text, so sending it again duplicates nothing
            self._busy[message_id] = tries + 1
            task = asyncio.create_task(self._again(message_id, BACKOFF_S[tries]))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        else:
            self._busy.pop(message_id, None)
            log.warning("sms %s refused by the SMSC: %s", message_id, error)
            await store.failed(self.pool, message_id, error or "refused", self.clock())

    async def receipt(self, receipt: receipts.Receipt) -> None:
        found = await store.receipt(self.pool, receipt, self.clock())
        if found is None:
            log.warning("receipt for an unknown SMSC id (%s): kept", receipt.state)

    async def inbound(self, number: str, text: str) -> None:
        e164 = number if number.startswith("+") else f"+{number}"
        now = self.clock()
        zone = await store.zone_of(self.pool, e164)  # "on Friday" is the debtor's Friday
        reading = replies.read(text, now, ZoneInfo(zone or "UTC"))
        accounts = await store.inbound(self.pool, e164, text, reading, now)
        if accounts and self.on_reply is not None:
            await self.on_reply(accounts)
        log.info(
            "sms reply: %s, %d account(s)%s",
            reading.intent,
            len(accounts),
            ", opt-out" if reading.opt_out else "",
        )
