"""Server-Sent Events for the console: a response ready to stream, and one event's bytes."""

from __future__ import annotations

from aiohttp import web


async def open_stream(request: web.Request) -> web.StreamResponse:
    """A prepared text/event-stream response (no caching, no proxy buffering)."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    return response


def event(name: str, data: str) -> bytes:
    """One event; each line of `data` on its own `data:` line, as the format requires."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n".encode()
