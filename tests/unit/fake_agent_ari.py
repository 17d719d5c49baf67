"""An in-memory ARI for the agent pool and the router's agent calls: records every request by name;
`fail[name]` raises on the next calls, `delay[name]` slows them, `event(name)` is set when one is sent.
Integration tests use the real Asterisk, never this fake."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any


class Ari:
    """Records every request; `fail[name]` raises on the next calls, `delay[name]` slows them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail: dict[str, list[Exception]] = {}
        self.delay: dict[str, float] = {}
        self.originated: asyncio.Queue[str] = asyncio.Queue()
        self.seen: dict[str, asyncio.Event] = {}

    def event(self, name: str) -> asyncio.Event:
        """Set when a request of that name is sent (clear it to wait for the next one)."""
        return self.seen.setdefault(name, asyncio.Event())

    async def _do(self, name: str, *args: str) -> None:
        self.calls.append((name, *args))
        self.event(name).set()
        if self.delay.get(name):
            await asyncio.sleep(self.delay[name])
        if self.fail.get(name):
            raise self.fail[name].pop(0)

    async def originate(
        self, endpoint: str, *, app: str, app_args: Sequence[str], channel_id: str
    ) -> dict[str, Any]:
        await self._do("originate", endpoint, app, ",".join(app_args), channel_id)
        self.originated.put_nowait(channel_id)
        return {"id": channel_id}

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> dict[str, Any]:
        await self._do("bridge", bridge_id, kind)
        return {"id": bridge_id}

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        await self._do("join", bridge_id, channel_id)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._do("destroy", bridge_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._do("hangup", channel_id)

    async def answer(self, channel_id: str) -> None:
        await self._do("answer", channel_id)

    async def play(
        self, channel_id: str, media: Sequence[str], *, playback_id: str, **_: Any
    ) -> dict[str, Any]:
        await self._do("play", channel_id, *media, playback_id)
        return {"id": playback_id}

    def named(self, name: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == name]
