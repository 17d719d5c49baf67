"""Route ARI events of the `dunline` Stasis app to IVR sessions (one per channel) and to agents.

`StasisStart(args=[attempt_id, amd_status])` opens a session if the dialer knows the attempt;
a channel nobody dialled is hung up (it would otherwise sit in Stasis). An attempt whose mode is
`agent` gets no IVR: the debtor is handed to the agent pool (`AgentCall`); when no agent is free
within 2 s the debtor hears the safe-harbour message (identity, callback number, opt-out) and is
hung up, an abandoned call. `StasisStart(args=["agent", id])` is an agent's phone logging in: it
goes to the pool, and so does every later event of a channel the pool owns. After a websocket
reconnect, `resync` ends sessions whose channel no longer exists (its events were lost with the
connection) so no call is left waiting forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from dunline.ari_handlers.agents import AgentPool, DebtorGone
from dunline.ari_handlers.client import AriClient, AriError
from dunline.ari_handlers.media import is_tap_channel
from dunline.ari_handlers.session import CallContext, Ears, IvrSession, RecordHook
from dunline.ivr import engine
from dunline.ivr.flow import Flow

log = logging.getLogger("dunline.ari")

SAFE_HARBOUR = "safe_harbour"  # the prompt id of the abandoned-call message
SAFE_HARBOUR_MAX_S = 60.0  # a message that never reports its end is cut here


class CallRegistry(Protocol):
    """What the router needs from the dialer."""

    def context_for(self, attempt_id: str) -> CallContext | None: ...

    def stasis_started(self, attempt_id: str) -> None: ...

    def ivr_done(
        self,
        attempt_id: str,
        outcome: str | None,
        played: list[str],
        verified: bool,
        heard: list[dict[str, Any]] | None = None,
    ) -> None: ...

    def agent_bridged(self, attempt_id: str, agent_id: str) -> None: ...

    def agent_done(self, attempt_id: str, detail: Mapping[str, Any]) -> None: ...


class AgentCall:
    """One answered debtor of an agent campaign, from StasisStart to the channel's end: connect to an
    agent within `within_s`, else the safe-harbour message then hang up. Reports to the dialer
    (`agent_bridged` at once, `agent_done` once at the end) with the measured timings."""

    def __init__(self, router: CallRouter, channel_id: str, ctx: CallContext, started: float) -> None:
        self.router = router
        self.channel_id = channel_id
        self.ctx = ctx
        self.started = started  # perf_counter() when StasisStart was received
        self.agent: str | None = None
        self.abandoned = False
        self.waited_s: float | None = None  # StasisStart -> abandon decision
        self.message_after_s: float | None = None  # StasisStart -> safe-harbour playback started
        self.message_finished = False
        self.ended = False
        self.reported = False
        self.heard = asyncio.Event()  # the message finished, or the channel ended
        self.task: asyncio.Task[None] | None = None

    @property
    def playback_id(self) -> str:
        return f"{self.channel_id}.{SAFE_HARBOUR}"

    async def run(self) -> None:
        r = self.router
        try:
            await r.ari.answer(self.channel_id)  # up already after AMD; answering again is harmless
        except AriError as exc:
            log.debug("attempt %s: answer: %s", self.ctx.attempt_id, exc)
        screen = {
            "attempt": self.ctx.attempt_id,
            "account": self.ctx.account_ref,
            "script": self.ctx.template,
        }
        try:
            agent = None
            if r.agents is not None:
                agent = await r.agents.connect(
                    self.channel_id, screen, r.connect_within_s, only=self.ctx.agent
                )
        except DebtorGone:
            return  # hung up while being connected: not an abandoned call
        if agent is not None:
            self.agent = agent
            r.registry.agent_bridged(self.ctx.attempt_id, agent)
            return
        await self._abandon()

    async def _abandon(self) -> None:
        r = self.router
        self.abandoned = True
        self.waited_s = time.perf_counter() - self.started
        log.info("attempt %s: no agent within %.1f s: abandoned", self.ctx.attempt_id, self.waited_s)
        media = self.ctx.media.get(SAFE_HARBOUR) or r.safe_harbour_media
        try:
            if media is None:
                raise AriError("no safe-harbour recording configured")
            await r.ari.play(self.channel_id, [media], playback_id=self.playback_id)
            async with asyncio.timeout(SAFE_HARBOUR_MAX_S):
                await self.heard.wait()
        except (AriError, TimeoutError) as exc:
            log.warning("attempt %s: safe-harbour message: %s", self.ctx.attempt_id, exc)
        self.report()
        if not self.ended:
            try:
                await r.ari.hangup(self.channel_id)
            except AriError as exc:
                log.warning("attempt %s: hangup after the message: %s", self.ctx.attempt_id, exc)

    async def handle(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        pid = str(event.get("playback", {}).get("id", ""))
        rx = event.get("_rx")
        if kind == "PlaybackStarted" and pid == self.playback_id:
            self.message_after_s = (rx if isinstance(rx, float) else time.perf_counter()) - self.started
        elif kind == "PlaybackFinished" and pid == self.playback_id:
            self.message_finished = True
            self.heard.set()
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            self.ended = True
            self.heard.set()
            if self.task is not None and not self.task.done() and not self.abandoned:
                self.task.cancel()  # still connecting: the pool releases the agent it took
            self.report()
            self.router.agent_calls.pop(self.channel_id, None)

    def report(self) -> None:
        if self.reported:
            return
        self.reported = True
        self.router.registry.agent_done(
            self.ctx.attempt_id,
            {
                "agent": self.agent,
                "abandoned": self.abandoned,
                "waited_s": _ms(self.waited_s),
                "message_after_s": _ms(self.message_after_s),
                "message_finished": self.message_finished,
            },
        )


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


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
        *,
        agents: AgentPool[Any] | None = None,
        safe_harbour_media: str | None = None,
        connect_within_s: float = 2.0,
    ) -> None:
        self.ari = ari
        self.flow = flow
        self.opts = opts
        self.registry = registry
        self.on_record = on_record
        self.feed = feed
        self.ears_for = ears_for
        self.sessions: dict[str, IvrSession] = {}
        self.agents = agents
        self.safe_harbour_media = safe_harbour_media  # used when the call's media has none
        self.connect_within_s = connect_within_s
        self.agent_calls: dict[str, AgentCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, lane: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if is_tap_channel(lane):
            return  # our own snoop / external-media legs: managed by the call's AudioTap
        args = event.get("args") or []
        if kind == "StasisStart" and args[:1] == ["agent"] and self.agents is not None:
            await self.agents.agent_entered(lane, str(args[1]) if len(args) > 1 else "")
            return
        if self.agents is not None and self.agents.owns(lane):
            await self.agents.handle(lane, event)
        call = self.agent_calls.get(lane)
        if call is not None:
            await call.handle(event)
            return
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
        if ctx.mode == "agent":
            self._agent_call(channel_id, ctx, event)
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

    def _agent_call(self, channel_id: str, ctx: CallContext, event: Mapping[str, Any]) -> None:
        rx = event.get("_rx")
        call = AgentCall(self, channel_id, ctx, rx if isinstance(rx, float) else time.perf_counter())
        self.agent_calls[channel_id] = call
        self.registry.stasis_started(ctx.attempt_id)
        call.task = asyncio.get_running_loop().create_task(call.run(), name=f"agent-call-{channel_id}")
        self._tasks.add(call.task)
        call.task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agent call task failed", exc_info=task.exception())

    async def close(self) -> None:
        """Stop the agent calls still being connected or hearing the message."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _close(self, channel_id: str, session: IvrSession) -> None:
        if self.sessions.pop(channel_id, None) is None:
            return
        if not session.done.done():
            session.done.set_result(session.state.outcome)
        self.registry.ivr_done(
            session.ctx.attempt_id,
            session.state.outcome,
            list(session.played),
            session.state.verified,
            heard=list(session.heard),
        )

    async def resync(self, channels: list[dict[str, Any]], bridges: list[dict[str, Any]]) -> None:
        alive = {str(c.get("id")) for c in channels}
        ours = [*self.sessions, *self.agent_calls, *(self.agents.channels() if self.agents else [])]
        for channel_id in dict.fromkeys(ours):
            if channel_id not in alive:
                log.warning("channel %s vanished while the event stream was down", channel_id)
                self.feed({"type": "ChannelDestroyed", "channel": {"id": channel_id}, "resync": True})
