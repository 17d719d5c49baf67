"""ARI events websocket: connect, resync, deliver in order, reconnect with backoff.

One :class:`AriEvents` keeps one ``GET /ari/events?app=APP&subscribeAll=false`` websocket open
until :meth:`AriEvents.close`. Per connection::

    connect (basic auth, heartbeat pings) -> on_state("connected")
      -> resync: GET /channels + GET /bridges -> on_resync(channels, bridges)
      -> every JSON event, stamped with "_rx" (time.perf_counter() at receipt), -> on_event, in order
    drop -> on_state("lost") -> sleep backoff -> connect again (and resync again)

Asterisk replays nothing after a drop, hence the resync after *every* connect. A reader task takes
frames off the socket while the resync runs, so Asterisk never sees a slow consumer; events that
arrive during the resync are delivered right after ``on_resync`` returns. ``ApplicationReplaced``
(another consumer took the app) is delivered, then ``on_state("replaced")``, and the client goes on
reconnecting with backoff. Malformed frames are logged and skipped. ``on_event`` must be quick
(feed a :class:`~dunline.ari_handlers.dispatch.ChannelDispatcher`); exceptions from callbacks are
logged and never end the stream.

Backoff: attempt ``n`` waits a jittered delay in ``[max(min, b/2), b]`` with
``b = min(reconnect_max, reconnect_min * 2**n)``. The attempt counter resets only after a connection
that stayed up ``stable_after`` seconds and was not replaced.

States passed to ``on_state``: "connected", "lost", "replaced", "closed".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from dunline.ari_handlers.client import AriClient, AriError, AriSettings, AriTimeout

__all__ = ["AriEvents", "backoff_delay"]

log = logging.getLogger("dunline.ari.events")

EventCallback = Callable[[dict[str, Any]], Awaitable[None] | None]
ResyncCallback = Callable[[list[dict[str, Any]], list[dict[str, Any]]], Awaitable[None] | None]
StateCallback = Callable[[str], None]

_EOF = object()


def backoff_delay(attempt: int, low: float, high: float, rng: random.Random | None = None) -> float:
    """Jittered exponential delay for reconnect ``attempt`` (0-based), always within [low, high]."""
    base = min(high, low * (2.0 ** min(attempt, 60)))
    r = (rng or random).random()
    return max(low, base / 2 + r * base / 2)


class AriEvents:
    """Supervised ARI events websocket with resync and reconnect."""

    def __init__(
        self,
        settings: AriSettings,
        client: AriClient,
        on_event: EventCallback,
        on_resync: ResyncCallback | None = None,
        on_state: StateCallback | None = None,
        *,
        heartbeat: float = 10.0,
        stable_after: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self._on_event = on_event
        self._on_resync = on_resync
        self._on_state = on_state
        self._heartbeat = heartbeat
        self._stable_after = stable_after
        self._rng = rng or random.Random()
        self._closing = False
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0
        self.connections = 0
        """Number of successful websocket connects so far."""
        self.reconnect_delays: collections.deque[float] = collections.deque(maxlen=64)
        """The most recent backoff delays actually slept (seconds), oldest first."""

    # -- public ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def run(self) -> None:
        """Keep the websocket up until :meth:`close`; returns then. Cancel-safe."""
        if self._task is not None:
            raise RuntimeError("AriEvents.run() is already running")
        if self._closing:
            return
        task = asyncio.create_task(self._supervise(), name=f"ari-events-{self.settings.app}")
        self._task = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise
        finally:
            self._task = None
        if not task.cancelled():
            task.result()  # re-raise an unexpected bug instead of hiding it

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 - API name
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError as exc:
            raise AriTimeout(f"ARI events websocket not connected within {timeout:.3f}s") from exc

    async def close(self) -> None:
        """Stop: close the websocket, stop reconnecting; ``run()`` returns. Idempotent."""
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            if task is not asyncio.current_task():  # close() from inside a callback: just cancel
                await asyncio.wait({task})

    # -- internals -------------------------------------------------------------------------------
    def _state(self, state: str) -> None:
        log.info("ARI events app=%s state=%s", self.settings.app, state)
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("ARI events on_state(%s) failed", state)

    async def _supervise(self) -> None:
        try:
            while not self._closing:
                replaced = False
                started = time.monotonic()
                try:
                    replaced = await self._connect_once()
                except (aiohttp.ClientError, OSError, TimeoutError, AriError) as exc:
                    log.warning(
                        "ARI events app=%s connect failed: %s: %s",
                        self.settings.app,
                        type(exc).__name__,
                        exc,
                    )
                    if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status == 401:
                        log.error("ARI events: 401 Unauthorized (check ARI user/password in config)")
                else:
                    stable = time.monotonic() - started >= self._stable_after
                    if stable and not replaced:
                        self._attempt = 0
                if self._closing:
                    break
                delay = backoff_delay(
                    self._attempt, self.settings.reconnect_min, self.settings.reconnect_max, self._rng
                )
                self._attempt += 1
                self.reconnect_delays.append(delay)
                log.debug("ARI events reconnect in %.3fs (attempt %d)", delay, self._attempt)
                await asyncio.sleep(delay)
        finally:
            self._connected.clear()
            self._state("closed")

    async def _connect_once(self) -> bool:
        """One websocket session. Returns True if it ended with ApplicationReplaced."""
        session = self.client.session()
        url = self.settings.ari_root + "/events"
        params = {"app": self.settings.app, "subscribeAll": "false"}
        async with asyncio.timeout(self.settings.request_timeout):
            ws = await session.ws_connect(
                url,
                params=params,
                headers=self.settings.auth_headers,
                heartbeat=self._heartbeat,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                max_msg_size=16 * 1024 * 1024,
            )
        queue: asyncio.Queue[Any] = asyncio.Queue()
        replaced = [False]
        reader = asyncio.create_task(self._read(ws, queue, replaced), name="ari-events-reader")
        try:
            self.connections += 1
            self._connected.set()
            self._state("connected")
            if await self._resync():
                await self._deliver(queue)
        finally:
            self._connected.clear()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            with contextlib.suppress(Exception):
                await ws.close()
            if not self._closing:
                self._state("replaced" if replaced[0] else "lost")
        return replaced[0]

    async def _read(
        self, ws: aiohttp.ClientWebSocketResponse, queue: asyncio.Queue[Any], replaced: list[bool]
    ) -> None:
        try:
            while True:
                msg = await ws.receive()
                rx = time.perf_counter()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    event = self._parse(msg.data)
                    if event is None:
                        continue
                    event["_rx"] = rx
                    queue.put_nowait(event)
                    if event.get("type") == "ApplicationReplaced":
                        replaced[0] = True
                        return
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    log.warning("ARI events: unexpected binary frame (%d bytes) skipped", len(msg.data))
                else:
                    if msg.type == aiohttp.WSMsgType.ERROR:
                        log.warning("ARI events websocket error: %r", ws.exception())
                    else:
                        log.info("ARI events websocket closed (%s, code %s)", msg.type.name, ws.close_code)
                    return
        finally:
            queue.put_nowait(_EOF)

    @staticmethod
    def _parse(data: str) -> dict[str, Any] | None:
        try:
            event = json.loads(data)
        except ValueError as exc:
            log.warning("ARI events: malformed JSON frame (%d chars) skipped: %s", len(data), exc)
            return None
        if not isinstance(event, dict):
            log.warning("ARI events: non-object JSON frame (%s) skipped", type(event).__name__)
            return None
        return event

    async def _resync(self) -> bool:
        """GET /channels + /bridges -> on_resync. False if ARI could not be read (reconnect)."""
        if self._on_resync is None:
            return True
        try:
            channels = await self.client.list_channels()
            bridges = await self.client.list_bridges()
        except AriError as exc:
            log.warning("ARI events resync failed, reconnecting: %s: %s", type(exc).__name__, exc)
            return False
        log.info("ARI events resync: %d channels, %d bridges", len(channels), len(bridges))
        try:
            result = self._on_resync(channels, bridges)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("ARI events on_resync failed")
        return True

    async def _deliver(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            event = await queue.get()
            if event is _EOF:
                return
            try:
                result = self._on_event(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                channel = event.get("channel")
                cid = channel.get("id") if isinstance(channel, dict) else None
                log.exception("ARI events on_event failed type=%s channel=%s", event.get("type"), cid)
            if event.get("type") == "ApplicationReplaced":
                return
