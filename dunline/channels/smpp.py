"""The SMPP 3.4 link (aiosmpplib): bind as a transceiver, submit texts, hand the SMSC's answers on.

`SmppGateway.submit` queues a submit_sm (registered_delivery=1: always ask for a receipt) tagged with
our message id; the client's hook turns what the SMSC sends back into three calls on `SmsEvents`:
`submitted` (submit_sm_resp: the SMSC's id, or its refusal), `receipt` (a deliver_sm receipt, parsed by
`channels.receipts`), `inbound` (a reply). aiosmpplib reconnects with exponential backoff by itself;
a message queued while the link is down waits in its queue, and a message whose answer was lost with
the link is never sent again by us (`store.sms.lost_in_flight` marks it unknown at the next start).

Errors: `SmsLinkError` (the SMSC refused the bind or cannot be reached in time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiosmpplib import ESME, PhoneNumber, SubmitSm
from aiosmpplib.hook import AbstractHook
from aiosmpplib.protocol import DeliverSm, SmppMessage, SubmitSmResp
from aiosmpplib.ratelimiter import SimpleRateLimiter
from aiosmpplib.state import SmppCommandStatus, SmppSessionState

from dunline.channels import receipts
from dunline.channels.sms_text import Encoded
from dunline.config.schema import SmsSettings

log = logging.getLogger("dunline.sms")


class SmsLinkError(RuntimeError):
    """The SMSC link could not be bound."""


class SmsEvents(Protocol):
    async def submitted(self, message_id: uuid.UUID, smsc_id: str | None, error: str | None) -> None: ...
    async def receipt(self, receipt: receipts.Receipt) -> None: ...
    async def inbound(self, number: str, text: str) -> None: ...


Work = Callable[[], Awaitable[None]]
WORKERS = 4  # the SMSC's answers are stored by these, so the link's reader never waits on the database


class _Hook(AbstractHook):  # type: ignore[misc]  # aiosmpplib ships no type information
    """Turns the client's callbacks into work for the gateway's workers (the reader goes on at once:
    an SMSC whose deliver_sm waits for its answer would stall or drop receipts)."""

    def __init__(self, events: SmsEvents, queue: asyncio.Queue[Work]) -> None:
        self.events = events
        self.queue = queue

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        try:
            if isinstance(smpp_message, SubmitSmResp) and smpp_message.log_id:
                ok = smpp_message.command_status == SmppCommandStatus.ESME_ROK
                mid, sid = uuid.UUID(smpp_message.log_id), smpp_message.message_id if ok else None
                why = None if ok else smpp_message.command_status.name
                self.queue.put_nowait(lambda: self.events.submitted(mid, sid, why))
            elif isinstance(smpp_message, DeliverSm):
                if smpp_message.is_receipt():
                    tlvs = {p.tag: p.value for p in smpp_message.optional_params or []}
                    r = receipts.parse(smpp_message.short_message, tlvs)
                    self.queue.put_nowait(lambda: self.events.receipt(r))
                else:
                    # a long reply comes in parts; the client joins them (into either field)
                    number = smpp_message.source.number
                    text = smpp_message.short_message or smpp_message.message_payload or ""
                    self.queue.put_nowait(lambda: self.events.inbound(number, text))
        except Exception:  # one bad PDU must not stop the link; it is logged (no text, no number)
            log.exception("SMSC answer not handled: %s", type(smpp_message).__name__)

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSm) and smpp_message.log_id:
            mid, why = uuid.UUID(smpp_message.log_id), f"send: {error!r}"[:200]
            self.queue.put_nowait(lambda: self.events.submitted(mid, None, why))


class SmppGateway:
    def __init__(self, settings: SmsSettings, events: SmsEvents) -> None:
        self.settings = settings
        self.queue: asyncio.Queue[Work] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self.esme = ESME(
            smsc_host=settings.host,
            smsc_port=settings.port,
            system_id=settings.system_id,
            password=settings.password.get_secret_value(),
            hook=_Hook(events, self.queue),
            log_level=logging.WARNING,
            socket_timeout=10.0,
        )
        self.esme.rate_limiter = SimpleRateLimiter(self.esme._logger, send_rate=settings.per_second)
        self._task: asyncio.Task[Any] | None = None

    async def start(self, within_s: float = 10.0) -> None:
        """Bind (the client keeps reconnecting in the background); SmsLinkError if not bound in time."""
        self._workers = [asyncio.create_task(self._work(), name=f"smpp-answers-{i}") for i in range(WORKERS)]
        self._task = asyncio.create_task(self.esme.start(), name="smpp-link")
        try:
            async with asyncio.timeout(within_s):
                while self.esme.session_state != SmppSessionState.BOUND_TRX:  # noqa: ASYNC110 - no event to wait on
                    await asyncio.sleep(0.05)
        except TimeoutError:
            await self.close()
            raise SmsLinkError(
                f"no SMPP bind to {self.settings.host}:{self.settings.port} within {within_s} s"
            ) from None

    async def submit(self, message_id: uuid.UUID, number: str, body: str, encoded: Encoded) -> None:
        await self.esme.broker.enqueue(
            SubmitSm(
                short_message=body,
                source=PhoneNumber(self.settings.source),
                destination=PhoneNumber(number.lstrip("+")),
                registered_delivery=1,
                encoding="ucs2" if encoded.alphabet == "ucs2" else None,
                log_id=str(message_id),
            )
        )

    async def _work(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                await job()
            except Exception:  # stored answers must not stop the workers; logged without content
                log.exception("SMSC answer not stored")
            finally:
                self.queue.task_done()

    async def drained(self, within_s: float = 10.0) -> None:
        """Wait until every answer received so far is stored (tests, benchmarks, a clean stop)."""
        await asyncio.wait_for(self.queue.join(), within_s)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.esme.stop(), 5.0)
        with contextlib.suppress(Exception):
            await self.drained(5.0)
        for w in self._workers:
            w.cancel()
        for w in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await w
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
