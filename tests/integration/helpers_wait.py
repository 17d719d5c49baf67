"""Waiting for something the real stack does in its own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(what: str, probe: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """`probe()`'s first truthy answer, polled until `within` seconds; AssertionError naming `what`."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {within} s (last: {last!r})")
