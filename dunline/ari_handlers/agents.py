"""Agents' phones on ARI: each logged-in agent waits on the line in its own bridge; a debtor who
answers is added to the bridge of the agent ready longest.

    login(id, endpoint)  bridge agent-<id> (mixing) + POST /channels (appArgs "agent,<id>")
                         -> StasisStart -> the agent's leg joins its bridge -> board: ready
    connect(debtor, screen, within_s)
                         the agent ready longest (waiting up to within_s for one) -> the debtor joins
                         that bridge -> board: on_call -> on_screen({agent, attempt, account, script})
    the debtor leaves the bridge or hangs up -> board: wrap_up for wrap_s -> ready
    the agent's leg hangs up -> board: offline, its bridge destroyed (a debtor with it is hung up)

Agents stay connected between calls, so a debtor hears the agent as soon as they join (no ringing
per call). States live in the pure `dialer.agents.AgentBoard` (reached through the `Board`
protocol, so this package does not import the dialer); this module does the ARI side and feeds the
board. Events reach it through the router: `agent_entered` for an agent leg's StasisStart, `handle`
for every later event of a channel it `owns` (agent legs and the debtors it connects).
Every ARI request runs under `ari_timeout_s`; wrap-up timers (`wrapup.WrapTimers`) are cancelled
by `logout` and `close`.

Errors::

    AgentError          base of what this module raises
    ├── LoginFailed     the agent's phone did not answer, hung up, or ARI refused the bridge
    └── DebtorGone      connect: the debtor's channel was gone before it joined an agent
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from dunline.ari_handlers.client import AriBadRequest, AriClient, AriConflict, AriError
from dunline.ari_handlers.wrapup import WrapTimers

log = logging.getLogger("dunline.agents")

T = TypeVar("T")
Screen = Callable[[dict[str, Any]], None]

_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_ENDS = ("StasisEnd", "ChannelDestroyed")


class Board(Protocol):
    """What the pool needs of `dialer.agents.AgentBoard`."""

    def state(self, agent_id: str) -> str: ...

    def login(self, agent_id: str, now: datetime) -> None: ...

    def logout(self, agent_id: str, now: datetime) -> None: ...

    def pause(self, agent_id: str, now: datetime) -> None: ...

    def resume(self, agent_id: str, now: datetime) -> None: ...

    def take_ready(self, now: datetime, only: str | None = None) -> str | None: ...

    def release(self, agent_id: str, now: datetime) -> None: ...

    def call_ended(self, agent_id: str, now: datetime) -> None: ...

    def wrap_done(self, agent_id: str, now: datetime) -> None: ...


B = TypeVar("B", bound=Board)


class AgentError(Exception):
    """Base of the agent pool's errors."""


class LoginFailed(AgentError):
    """The agent could not be put on the line."""


class DebtorGone(AgentError):
    """The debtor's channel went away while being connected (not an abandoned call)."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Leg:
    """One logged-in (or logging-in) agent's phone call and bridge."""

    agent_id: str
    channel_id: str
    bridge_id: str
    entered: asyncio.Future[None]  # resolved by the leg's StasisStart
    call: str | None = None  # the debtor channel in (or joining) the bridge


@dataclass
class _Call:
    agent_id: str
    bridged: bool = False  # the debtor joined the agent's bridge
    gone: bool = False  # the debtor's channel left while joining


class AgentPool(Generic[B]):
    def __init__(
        self,
        ari: AriClient,
        app_name: str,
        board: B,
        *,
        wrap_s: float = 10.0,
        clock: Callable[[], datetime] = _now,
        on_screen: Screen | None = None,
        trunk: str | None = None,
        ari_timeout_s: float = 2.0,
        answer_timeout_s: float = 30.0,
    ) -> None:
        self.ari = ari
        self.app = app_name
        self.board = board
        self.wrap_s = wrap_s  # a campaign may set its own
        self.clock = clock
        self.on_screen = on_screen
        self.trunk = trunk  # for logins by bare number: PJSIP/<number>@<trunk>
        self.ari_timeout_s = ari_timeout_s
        self.answer_timeout_s = answer_timeout_s
        self._legs: dict[str, _Leg] = {}  # by agent id
        self._leg_channels: dict[str, str] = {}  # agent leg channel id -> agent id
        self._calls: dict[str, _Call] = {}  # debtor channel id -> its agent
        self._waiters: list[asyncio.Future[None]] = []  # woken on every change of the board
        self._wraps = WrapTimers(self._wrap_done)
        self._tasks: set[asyncio.Task[None]] = set()  # teardowns running in the background
        self._closed = False

    # ---- reading ------------------------------------------------------------------------------------
    def owns(self, channel_id: str) -> bool:
        """Whether events of this channel belong here (an agent leg or a debtor being connected)."""
        return channel_id in self._leg_channels or channel_id in self._calls

    def channels(self) -> list[str]:
        return [*self._leg_channels, *self._calls]

    def bridge_of(self, agent_id: str) -> str | None:
        leg = self._legs.get(agent_id)
        return leg.bridge_id if leg else None

    def agent_of(self, debtor_channel: str) -> str | None:
        call = self._calls.get(debtor_channel)
        return call.agent_id if call and call.bridged else None

    async def until(self, agent_id: str, state: str, within_s: float) -> None:
        """Wait until the agent is in `state` (TimeoutError after within_s): for consoles and tests."""
        async with asyncio.timeout(within_s):
            while self.board.state(agent_id) != state:
                await self._changed_wait()

    # ---- agents -------------------------------------------------------------------------------------
    async def login(self, agent_id: str, endpoint: str) -> None:
        """Call the agent's phone and keep it on the line in bridge `agent-<id>`; returns when the
        agent is ready. `endpoint`: a dial string (PJSIP/+15550001001@carrier) or an E.164 number
        (dialled over `trunk`)."""
        if not _AGENT_ID.match(agent_id):
            raise AgentError(f"agent id {agent_id!r}: letters, digits, '.', '_', '-' (at most 48)")
        if self._closed:
            raise AgentError("the agent pool is closed")
        if agent_id in self._legs or self.board.state(agent_id) != "offline":
            raise AgentError(f"agent {agent_id}: already logged in")
        dial = self._dial_string(endpoint)
        leg = _Leg(
            agent_id,
            f"agent-{agent_id}-{uuid.uuid4().hex[:8]}",
            f"agent-{agent_id}",
            asyncio.get_running_loop().create_future(),
        )
        self._legs[agent_id] = leg
        self._leg_channels[leg.channel_id] = agent_id
        try:
            await self._new_bridge(leg.bridge_id)
            await self._ari(
                self.ari.originate(
                    dial, app=self.app, app_args=("agent", agent_id), channel_id=leg.channel_id
                )
            )
            async with asyncio.timeout(self.answer_timeout_s):
                await leg.entered
            await self._ari(self.ari.add_channel(leg.bridge_id, leg.channel_id))
            if self._legs.get(agent_id) is not leg:
                raise LoginFailed(f"agent {agent_id}: the phone hung up while joining its bridge")
        except BaseException as exc:
            await self._drop(leg, hangup_agent=True)
            if isinstance(exc, AriError | TimeoutError):
                raise LoginFailed(f"agent {agent_id}: {type(exc).__name__}: {exc}") from exc
            raise
        self.board.login(agent_id, self.clock())
        log.info("agent %s: logged in on %s", agent_id, leg.channel_id)
        self._changed()

    async def logout(self, agent_id: str) -> None:
        """Hang up the agent's phone and destroy its bridge (a call in progress ends with it)."""
        leg = self._legs.get(agent_id)
        if leg is None:
            raise AgentError(f"agent {agent_id}: not logged in")
        await self._drop(leg, hangup_agent=True)

    def pause(self, agent_id: str) -> None:
        self.board.pause(agent_id, self.clock())
        self._changed()

    def resume(self, agent_id: str) -> None:
        self.board.resume(agent_id, self.clock())
        self._changed()

    # ---- debtors ------------------------------------------------------------------------------------
    async def connect(
        self, channel_id: str, screen: Mapping[str, Any], within_s: float = 2.0, *, only: str | None = None
    ) -> str | None:
        """Put the debtor's channel (in Stasis, answered) in the bridge of the agent ready longest
        (`only`: of that agent, the one who dialled the call), waiting up to `within_s` for one.
        Returns the agent id, or None when no agent was free in time (or none is logged in): the
        caller then plays the safe-harbour message. Raises DebtorGone when the debtor's channel left
        first. Cancel-safe: an agent taken for a
        connection that did not complete is released."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            agent_id = await self._take(deadline, only)
            if agent_id is None:
                return None
            leg = self._legs[agent_id]
            call = self._calls[channel_id] = _Call(agent_id)
            leg.call = channel_id
            try:
                await self._ari(self.ari.add_channel(leg.bridge_id, channel_id))
            except AriBadRequest as exc:  # 400 / 422: the channel is gone or no longer in Stasis
                self._undo(channel_id, call, leg)
                raise DebtorGone(f"{channel_id}: {exc}") from exc
            except (AriError, TimeoutError) as exc:  # the agent's side failed: take it out, try another
                log.warning(
                    "agent %s: could not join %s (%s); logging the agent out", agent_id, channel_id, exc
                )
                self._undo(channel_id, call, leg)
                debtor = self._detach(leg)  # offline at once: no other debtor is sent to it
                self._spawn(self._teardown(leg, debtor, hangup_agent=True), f"agent-drop-{agent_id}")
                continue
            except BaseException:
                self._undo(channel_id, call, leg)
                raise
            if call.gone:
                self._undo(channel_id, call, leg)
                raise DebtorGone(f"{channel_id}: left while joining agent {agent_id}")
            if self._legs.get(agent_id) is not leg:  # the agent hung up meanwhile: try another
                self._calls.pop(channel_id, None)
                continue
            call.bridged = True
            log.info("agent %s: connected to %s", agent_id, channel_id)
            self._screen({**screen, "agent": agent_id})
            return agent_id

    async def _take(self, deadline: float, only: str | None = None) -> str | None:
        loop = asyncio.get_running_loop()
        while True:
            agent_id = self.board.take_ready(self.clock(), only)
            if agent_id is not None:
                self._changed()
                return agent_id
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closed or not self._legs:
                return None  # nobody logged in: no reason to keep the debtor waiting
            try:
                async with asyncio.timeout(remaining):
                    await self._changed_wait()
            except TimeoutError:
                return None

    def _undo(self, channel_id: str, call: _Call, leg: _Leg) -> None:
        """A connection that did not complete: the agent goes back to ready, no call counted."""
        if self._calls.get(channel_id) is call:
            del self._calls[channel_id]
        if leg.call == channel_id:
            leg.call = None
        if self._legs.get(leg.agent_id) is leg and self.board.state(leg.agent_id) == "on_call":
            self.board.release(leg.agent_id, self.clock())
            self._changed()

    # ---- events (through the router) ---------------------------------------------------------------
    async def agent_entered(self, channel_id: str, agent_id: str) -> None:
        """StasisStart of an agent leg (app args "agent,<id>"); a leg nobody is waiting for is hung up."""
        leg = self._legs.get(agent_id)
        if leg is None or leg.channel_id != channel_id or leg.entered.done():
            log.warning("agent leg %s (agent %r) was not expected: hanging up", channel_id, agent_id)
            await self._quiet(self.ari.hangup(channel_id), f"hang up {channel_id}")
            return
        leg.entered.set_result(None)

    async def handle(self, channel_id: str, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        agent_id = self._leg_channels.get(channel_id)
        if agent_id is not None:
            leg = self._legs.get(agent_id)
            if kind in _ENDS and leg is not None:
                if not leg.entered.done():  # the phone never answered: login() reports and cleans up
                    leg.entered.set_exception(LoginFailed(f"agent {agent_id}: the phone did not answer"))
                    return
                log.info("agent %s: the phone hung up (%s)", agent_id, kind)
                await self._drop(leg, hangup_agent=False)
            return
        call = self._calls.get(channel_id)
        if call is None:
            return
        leg = self._legs.get(call.agent_id)
        left = kind == "ChannelLeftBridge" and leg is not None and _bridge_id(event) == leg.bridge_id
        if left or kind in _ENDS:
            self._debtor_left(channel_id, call)

    def _debtor_left(self, channel_id: str, call: _Call) -> None:
        if not call.bridged:
            call.gone = True  # connect() sees it when the join returns
            return
        del self._calls[channel_id]
        agent_id = call.agent_id
        leg = self._legs.get(agent_id)
        if leg is not None and leg.call == channel_id:
            leg.call = None
        if self.board.state(agent_id) == "on_call":
            self.board.call_ended(agent_id, self.clock())
            log.info("agent %s: call %s ended, wrap-up %.1f s", agent_id, channel_id, self.wrap_s)
            self._changed()
            self._wraps.start(agent_id, self.wrap_s)

    def _wrap_done(self, agent_id: str) -> None:
        if self.board.state(agent_id) == "wrap_up":
            self.board.wrap_done(agent_id, self.clock())
            self._changed()

    # ---- leaving ------------------------------------------------------------------------------------
    def _detach(self, leg: _Leg) -> str | None:
        """Take the agent off the board (idempotent): its wrap-up timer is cancelled and it goes
        offline. Returns the debtor connected to it, if any, who must be hung up (nobody would talk)."""
        if self._legs.get(leg.agent_id) is leg:
            del self._legs[leg.agent_id]
        self._leg_channels.pop(leg.channel_id, None)
        self._wraps.cancel(leg.agent_id)
        if self.board.state(leg.agent_id) != "offline":
            self.board.logout(leg.agent_id, self.clock())
            log.info("agent %s: offline", leg.agent_id)
        debtor, leg.call = leg.call, None
        call = self._calls.get(debtor) if debtor else None
        self._changed()
        if debtor and call is not None and call.bridged:
            del self._calls[debtor]
            return debtor
        return None

    async def _drop(self, leg: _Leg, *, hangup_agent: bool) -> None:
        """`_detach`, then hang up (the debtor with it and, if asked, the agent's phone) and destroy
        the agent's bridge."""
        await self._teardown(leg, self._detach(leg), hangup_agent=hangup_agent)

    async def _teardown(self, leg: _Leg, debtor: str | None, *, hangup_agent: bool) -> None:
        if debtor is not None:
            await self._quiet(self.ari.hangup(debtor), f"hang up {debtor} (its agent left)")
        if hangup_agent:
            await self._quiet(self.ari.hangup(leg.channel_id), f"hang up agent leg {leg.channel_id}")
        await self._quiet(self.ari.destroy_bridge(leg.bridge_id), f"destroy bridge {leg.bridge_id}")

    async def close(self) -> None:
        """Hang up every agent leg, destroy the bridges, stop the timers."""
        self._closed = True
        wraps = self._wraps.cancel_all()
        for leg in list(self._legs.values()):
            await self._drop(leg, hangup_agent=True)
        # teardowns already running (each request has its timeout) finish; timers are cancelled
        tasks = [*wraps, *self._tasks]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._changed()

    # ---- helpers ------------------------------------------------------------------------------------
    def _dial_string(self, endpoint: str) -> str:
        if "/" in endpoint:
            return endpoint
        if _E164.match(endpoint) and self.trunk:
            return f"PJSIP/{endpoint}@{self.trunk}"
        raise AgentError(f"endpoint {endpoint!r}: a dial string (PJSIP/...) or an E.164 number with a trunk")

    async def _new_bridge(self, bridge_id: str) -> None:
        try:
            await self._ari(self.ari.create_bridge(bridge_id, "mixing"))
        except AriConflict:  # left over from a controller that stopped without cleaning up
            await self._ari(self.ari.destroy_bridge(bridge_id))
            await self._ari(self.ari.create_bridge(bridge_id, "mixing"))

    async def _ari(self, request: Awaitable[T]) -> T:
        async with asyncio.timeout(self.ari_timeout_s):
            return await request

    async def _quiet(self, request: Awaitable[Any], what: str) -> None:
        try:
            await self._ari(request)
        except (AriError, TimeoutError) as exc:
            log.warning("%s failed: %s", what, exc)

    def _screen(self, event: dict[str, Any]) -> None:
        if self.on_screen is None:
            return
        try:
            self.on_screen(event)
        except Exception:  # a broken console must not cost the call
            log.exception("agent %s: screen pop failed", event.get("agent"))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _changed_wait(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)


def _bridge_id(event: Mapping[str, Any]) -> str | None:
    bridge = event.get("bridge")
    return str(bridge.get("id")) if isinstance(bridge, Mapping) else None
