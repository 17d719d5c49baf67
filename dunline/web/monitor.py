"""The live campaign monitor over Server-Sent Events.

One `Feed` per watched campaign reads `store.monitor.snapshot` once a second while at least one
browser watches, renders the panel once per snapshot, and hands both to every watcher: fifty
browsers cost one round of queries a second, not fifty. Each watcher gets the newest snapshot only
(a slow browser skips, never queues). Events: `panel` (an HTML fragment htmx swaps in) and `metrics`
(JSON for the charts); a comment line every 15 s keeps idle connections through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp_jinja2
import asyncpg
from aiohttp import web

from dunline.store import monitor as store
from dunline.web.sse import event, open_stream

log = logging.getLogger("dunline.web.monitor")
KEEPALIVE_S = 15.0


@dataclass
class Feed:
    campaign_id: int
    version: int = 0
    snapshot: dict[str, Any] | None = None
    panel: str = ""
    watchers: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    task: asyncio.Task[None] | None = None


class Monitor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Callable[[], datetime],
        render: Callable[[dict[str, Any]], str],
        interval_s: float = 1.0,
        live: Callable[[int], dict[str, Any] | None] | None = None,
    ) -> None:
        self.live = live  # what the controller running the campaign in this process adds
        self.pool = pool
        self.clock = clock
        self.render = render
        self.interval_s = interval_s
        self.feeds: dict[int, Feed] = {}

    async def _poll(self, feed: Feed) -> None:
        while feed.watchers > 0:
            try:
                async with self.pool.acquire() as conn:
                    snap = await store.snapshot(conn, feed.campaign_id, self.clock())
                if snap is not None:
                    snap["here"] = self.live(feed.campaign_id) if self.live is not None else None
                panel = self.render(snap) if snap is not None else ""
            except Exception:  # a failed round is logged and retried; watchers keep the last one
                log.exception("monitor of campaign %s: snapshot failed", feed.campaign_id)
            else:
                async with feed.changed:
                    feed.snapshot, feed.panel = snap, panel
                    feed.version += 1
                    feed.changed.notify_all()
            await asyncio.sleep(self.interval_s)

    def _join(self, campaign_id: int) -> Feed:
        feed = self.feeds.setdefault(campaign_id, Feed(campaign_id))
        feed.watchers += 1
        if feed.task is None or feed.task.done():
            feed.task = asyncio.get_running_loop().create_task(
                self._poll(feed), name=f"monitor-{campaign_id}"
            )
        return feed

    def _leave(self, feed: Feed) -> None:
        feed.watchers -= 1
        # the poll loop sees no watcher at its next round and ends by itself

    async def close(self) -> None:
        tasks = [f.task for f in self.feeds.values() if f.task is not None and not f.task.done()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def stream(self, request: web.Request, campaign_id: int) -> web.StreamResponse:
        response = await open_stream(request)
        feed = self._join(campaign_id)
        seen = 0
        try:
            while True:
                async with feed.changed:
                    newer = functools.partial(_newer, feed, seen)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(feed.changed.wait_for(newer), KEEPALIVE_S)
                    fresh = feed.version > seen
                    seen, snap, panel = feed.version, feed.snapshot, feed.panel
                if not fresh:
                    await response.write(b": keep-alive\n\n")
                    continue
                if snap is None:
                    await response.write(b"event: gone\ndata: no such campaign\n\n")
                    break
                await response.write(event("panel", panel) + event("metrics", json.dumps(snap)))
        except (ConnectionResetError, ConnectionError):
            pass  # the browser went away
        finally:
            self._leave(feed)
        return response


def _newer(feed: Feed, seen: int) -> bool:
    return feed.version > seen


MONITOR = web.AppKey("monitor", Monitor)


def install(
    app: web.Application,
    pool: asyncpg.Pool,
    clock: Callable[[], datetime],
    live: Callable[[int], dict[str, Any] | None] | None = None,
) -> None:
    env = aiohttp_jinja2.get_env(app)
    template = env.get_template("monitor_panel.html")
    app[MONITOR] = Monitor(pool, clock, lambda snap: template.render(s=snap), live=live)

    async def close(app: web.Application) -> None:
        await app[MONITOR].close()

    app.on_shutdown.append(close)
