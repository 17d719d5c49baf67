"""Per-channel ordered dispatch of ARI events.

The websocket reader must never wait on call logic (Asterisk drops consumers slower than 100 ms),
and events about one call must be handled strictly in order. :class:`ChannelDispatcher` does both:
``feed()`` is synchronous and only appends the event to its channel's *lane* (a queue plus one task);
each lane runs ``handler(lane_key, event)`` one event at a time, in arrival order; lanes of different
channels run concurrently.

Lane key (:func:`lane_key`): ``event["channel"]["id"]``; else for playback/recording events the
``target_uri`` ``"channel:ID"``; else for ``Dial`` the peer channel; everything else (bridge events,
global ChannelVarset, ApplicationReplaced...) goes to the ``"global"`` lane.

A lane ends after it handled ``ChannelDestroyed`` with nothing queued behind it, or after
``idle_timeout`` seconds with nothing to do (e.g. after ``StasisEnd``). Ending is only ever done with
an empty queue and no handler running, so a later event for the same id simply starts a new lane
without any overlap. Handler exceptions are logged with the channel id and the lane goes on.

``overhead_samples`` / ``completion_samples`` keep the last 100 000 values of
``handler start - event["_rx"]`` / ``handler end - event["_rx"]`` (seconds) for benchmarks.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["GLOBAL_LANE", "ChannelDispatcher", "lane_key"]

log = logging.getLogger("dunline.ari")

GLOBAL_LANE = "global"
SAMPLES_KEPT = 100_000

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]

_STOP: dict[str, Any] = {"type": "_DispatcherStop"}


def _target_channel(obj: Any) -> str | None:
    if isinstance(obj, dict):
        uri = obj.get("target_uri")
        if isinstance(uri, str) and uri.startswith("channel:") and len(uri) > len("channel:"):
            return uri[len("channel:") :]
    return None


def lane_key(event: dict[str, Any]) -> str:
    """The lane an ARI event belongs to: a channel id, or ``GLOBAL_LANE``."""
    channel = event.get("channel")
    if isinstance(channel, dict):
        cid = channel.get("id")
        if isinstance(cid, str) and cid:
            return cid
    for key in ("playback", "recording"):
        cid = _target_channel(event.get(key))
        if cid:
            return cid
    if event.get("type") == "Dial":
        peer = event.get("peer")
        if isinstance(peer, dict) and isinstance(peer.get("id"), str) and peer["id"]:
            return str(peer["id"])
    return GLOBAL_LANE


@dataclass
class _Lane:
    key: str
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class ChannelDispatcher:
    """Per-channel ordered event dispatch: events about one channel run strictly in arrival order in
    that channel's own task; different channels run concurrently; a slow handler never delays the
    websocket reader."""

    def __init__(self, handler: Handler, *, idle_timeout: float = 60.0, drain_timeout: float = 5.0) -> None:
        self._handler = handler
        self._idle_timeout = idle_timeout
        self._drain_timeout = drain_timeout
        self._lanes: dict[str, _Lane] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._closed = False
        self._overhead: collections.deque[float] = collections.deque(maxlen=SAMPLES_KEPT)
        self._completion: collections.deque[float] = collections.deque(maxlen=SAMPLES_KEPT)
        self.events_handled = 0
        self.handler_errors = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("ChannelDispatcher is closed")
        self._running = True

    async def close(self) -> None:
        """Stop accepting events; let lanes finish what is queued (up to drain_timeout), cancel the rest."""
        if self._closed:
            return
        self._closed = True
        self._running = False
        for lane in self._lanes.values():
            lane.queue.put_nowait(_STOP)
        tasks = set(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self._drain_timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("ARI dispatcher: %d lane(s) cancelled at close", len(pending))
                await asyncio.wait(pending)
        self._lanes.clear()

    async def __aenter__(self) -> ChannelDispatcher:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- feeding ---------------------------------------------------------------------------------
    def feed(self, event: dict[str, Any]) -> None:
        """Queue ``event`` on its channel's lane. Synchronous, never blocks.

        Before ``start()`` this raises RuntimeError; after ``close()`` the event is dropped (logged at
        debug level), so late timers and shutdown races never leave exceptions in the loop.
        """
        if self._closed:
            log.debug("ARI dispatcher closed, event %s dropped", event.get("type"))
            return
        if not self._running:
            raise RuntimeError("ChannelDispatcher.feed() before start()")
        key = lane_key(event)
        lane = self._lanes.get(key)
        if lane is None:
            lane = _Lane(key)
            self._lanes[key] = lane
            task = asyncio.get_running_loop().create_task(self._run_lane(lane), name=f"ari-lane-{key}")
            lane.task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        lane.queue.put_nowait(event)

    # -- introspection ---------------------------------------------------------------------------
    def active_lanes(self) -> list[str]:
        return list(self._lanes)

    @property
    def overhead_samples(self) -> list[float]:
        """Last 100k samples of handler start minus event["_rx"], seconds."""
        return list(self._overhead)

    @property
    def completion_samples(self) -> list[float]:
        """Last 100k samples of handler end minus event["_rx"], seconds."""
        return list(self._completion)

    # -- lanes -----------------------------------------------------------------------------------
    async def _next(self, lane: _Lane) -> dict[str, Any] | None:
        """Next event, or None when the lane has been idle for idle_timeout (queue still empty)."""
        try:
            return lane.queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
        try:
            async with asyncio.timeout(self._idle_timeout):
                return await lane.queue.get()
        except TimeoutError:
            # Queue.get() leaves an item in the queue when it is cancelled, so re-check.
            try:
                return lane.queue.get_nowait()
            except asyncio.QueueEmpty:
                return None

    async def _run_lane(self, lane: _Lane) -> None:
        try:
            while True:
                event = await self._next(lane)
                if event is None:
                    log.debug("ARI lane %s idle, ended", lane.key)
                    return
                if event is _STOP:
                    return
                await self._handle(lane.key, event)
                if event.get("type") == "ChannelDestroyed" and lane.queue.empty():
                    log.debug("ARI lane %s ended after ChannelDestroyed", lane.key)
                    return
        finally:
            # No await between the emptiness check above and this removal: feed() cannot slip in.
            if self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]

    async def _handle(self, key: str, event: dict[str, Any]) -> None:
        rx = event.get("_rx")
        start = time.perf_counter()
        try:
            await self._handler(key, event)
        except Exception:
            self.handler_errors += 1
            log.exception("ARI handler failed channel=%s event=%s", key, event.get("type"))
        finally:
            self.events_handled += 1
            if isinstance(rx, float):
                self._overhead.append(start - rx)
                self._completion.append(time.perf_counter() - rx)
