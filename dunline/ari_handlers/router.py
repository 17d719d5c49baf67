"""Route ARI events of the `dunline` Stasis app to IVR sessions, one per channel.

`StasisStart(args=[attempt_id, amd_status])` opens a session if the dialer knows the attempt;
a channel nobody dialled is hung up (it would otherwise sit in Stasis). After a websocket
reconnect, `resync` ends sessions whose channel no longer exists (its events were lost with the
connection) so no call is left waiting forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from dunline.ari_handlers.client import AriClient, AriError
from dunline.ari_handlers.media import is_tap_channel
from dunline.ari_handlers.session import CallContext, Ears, IvrSession, RecordHook
from dunline.ivr import engine
from dunline.ivr.flow import Flow

log = logging.getLogger("dunline.ari")


class CallRegistry(Protocol):
    """What the router needs from the dialer."""

    def context_for(self, attempt_id: str) -> CallContext | None: ...

    def stasis_started(self, attempt_id: str) -> None: ...

    def ivr_done(self, attempt_id: str, outcome: str | None, played: list[str], verified: bool) -> None: ...


class CallRouter:
    def __init__(
        self,
        ari: AriClient,
        flow: Flow,
        opts: engine.Options,
        registry: CallRegistry,
        on_record: RecordHook,
        feed: Callable[[dict[str, Any]], None],
        ears_for: Callable[[str, CallContext], Awaitable[Ears | None]] | None = None,
    ) -> None:
        self.ari = ari
        self.flow = flow
        self.opts = opts
        self.registry = registry
        self.on_record = on_record
        self.feed = feed
        self.ears_for = ears_for
        self.sessions: dict[str, IvrSession] = {}

    async def handle(self, lane: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if is_tap_channel(lane):
            return  # our own snoop / external-media legs: managed by the call's AudioTap
        if kind == "StasisStart" and lane not in self.sessions and not await self._open(lane, event):
            return
        session = self.sessions.get(lane)
        if session is None:
            return
        await session.handle(event)
        if session.done.done() or kind == "ChannelDestroyed":
            self._close(lane, session)

    async def _open(self, channel_id: str, event: Mapping[str, Any]) -> bool:
        args = event.get("args") or []
        attempt_id = str(args[0]) if args else ""
        ctx = self.registry.context_for(attempt_id) if attempt_id else None
        if ctx is None or channel_id != attempt_id:
            log.warning(
                "channel %s entered Stasis for unknown attempt %r: hanging up", channel_id, attempt_id
            )
            try:
                await self.ari.hangup(channel_id)
            except AriError as exc:
                log.warning("hangup of unknown channel %s failed: %s", channel_id, exc)
            return False
        ears = None
        if self.ears_for is not None:
            try:
                ears = await self.ears_for(channel_id, ctx)
            except (AriError, OSError) as exc:  # no ears: the call goes on with the keypad only
                log.warning("attempt %s: audio tap failed, keypad only: %s", attempt_id, exc)
        self.sessions[channel_id] = IvrSession(
            channel_id, ctx, self.flow, self.ari, self.feed, self.on_record, self.opts, ears
        )
        self.registry.stasis_started(attempt_id)
        return True

    def _close(self, channel_id: str, session: IvrSession) -> None:
        if self.sessions.pop(channel_id, None) is None:
            return
        if not session.done.done():
            session.done.set_result(session.state.outcome)
        self.registry.ivr_done(
            session.ctx.attempt_id, session.state.outcome, list(session.played), session.state.verified
        )

    async def resync(self, channels: list[dict[str, Any]], bridges: list[dict[str, Any]]) -> None:
        alive = {str(c.get("id")) for c in channels}
        for channel_id in list(self.sessions):
            if channel_id not in alive:
                log.warning("channel %s vanished while the event stream was down", channel_id)
                self.feed({"type": "ChannelDestroyed", "channel": {"id": channel_id}, "resync": True})
