"""Runs campaigns inside `dunline serve`: every campaign whose status is running or paused gets a
runner on this controller (the same `runner_for` as `dunline campaign run`); a campaign stopped or
finished ends its runner, and starting it again starts a new one. Several controllers may host the
same campaign: the claims and the pacing leader lock keep them apart, as with `campaign run`.

`live(cid)` is what the monitor adds for a campaign this controller runs: the pacer's last decision,
calls in flight here, whether this controller leads, and the agents on this controller by state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from dunline.controller.app import Runtime
from dunline.controller.campaigns import load_spec, runner_for
from dunline.dialer.campaign import CampaignRunner
from dunline.dialer.campaign_spec import CampaignSpecError
from dunline.store import campaigns as store

log = logging.getLogger("dunline.host")
POLL_S = 2.0


class CampaignHost:
    def __init__(self, rt: Runtime, *, poll_s: float = POLL_S, tick_s: float = 1.0) -> None:
        self.rt = rt
        self.poll_s = poll_s
        self.tick_s = tick_s
        self.runners: dict[int, CampaignRunner] = {}
        self._tasks: dict[int, asyncio.Task[Any]] = {}

    async def run(self) -> None:
        """Host campaigns until cancelled; runners are stopped (their calls finish) on the way out."""
        try:
            while True:
                await self.sync()
                await asyncio.sleep(self.poll_s)
        finally:
            await self.close()

    async def sync(self) -> None:
        rows = await self.rt.pool.fetch("SELECT id FROM campaigns WHERE status IN ('running', 'paused')")
        for cid in (r["id"] for r in rows):
            if cid in self._tasks:
                continue
            try:
                spec = await load_spec(self.rt, cid)
                runner = runner_for(self.rt, cid, spec, tick_s=self.tick_s)
            except (store.CampaignError, CampaignSpecError, ValueError) as exc:
                log.warning("campaign %s cannot run here: %s", cid, exc)
                continue
            self.runners[cid] = runner
            task = asyncio.create_task(runner.run(), name=f"host-campaign-{cid}")
            self._tasks[cid] = task
            task.add_done_callback(functools.partial(self._ended, cid))
            log.info("campaign %s: runner started on this controller", cid)

    def _ended(self, cid: int, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(cid, None)
        self.runners.pop(cid, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("campaign %s: runner failed", cid, exc_info=task.exception())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def live(self, cid: int) -> dict[str, Any] | None:
        runner = self.runners.get(cid)
        if runner is None:
            return None
        now = runner.clock()
        agents = [
            {"id": a.id, "state": a.state, "seconds": round(a.seconds_in_state), "calls": a.calls}
            for a in self.rt.agents.board.snapshot(now)
        ]
        return {
            "node": runner.node,
            "leader": runner.summary.leader,
            "in_flight": runner.in_flight,
            "placed": runner.summary.placed,
            "pacing": dict(runner.pacing),
            "agents": agents,
        }
