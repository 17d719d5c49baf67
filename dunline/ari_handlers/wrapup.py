"""Wrap-up timers of the agent pool: after a call an agent stays in wrap-up for a while, then `done`
(agent id) is called, which makes it ready again. One timer per agent: a new one replaces the old;
`cancel` (the agent left) and `cancel_all` (the pool closes) stop them without calling `done`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class WrapTimers:
    def __init__(self, done: Callable[[str], None]) -> None:
        self._done = done
        self._tasks: dict[str, asyncio.Task[None]] = {}  # by agent id

    def start(self, agent_id: str, wrap_s: float) -> None:
        """Call `done(agent_id)` after `wrap_s` seconds (the agent's previous timer is cancelled)."""
        self.cancel(agent_id)
        coro = self._run(agent_id, wrap_s)
        self._tasks[agent_id] = asyncio.get_running_loop().create_task(coro, name=f"agent-wrap-{agent_id}")

    def cancel(self, agent_id: str) -> None:
        task = self._tasks.pop(agent_id, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> list[asyncio.Task[None]]:
        """Cancel every timer; returns their tasks, for the caller to wait for."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        return tasks

    async def _run(self, agent_id: str, wrap_s: float) -> None:
        try:
            await asyncio.sleep(wrap_s)
        finally:
            if self._tasks.get(agent_id) is asyncio.current_task():
                del self._tasks[agent_id]
        self._done(agent_id)
