"""A fake ARI server for unit tests: real aiohttp on 127.0.0.1, port 0.

Serves ``/ari/...`` REST (basic auth checked, every request recorded with its raw path and query)
and the ``/ari/events`` websocket. Tests script it:

- ``fake.replies[(METHOD, "/ari/path")] = Reply(status, body, delay)`` overrides one route;
  otherwise GET /channels, /bridges, /asterisk/ping answer from state and everything else is 204.
- ``await fake.send(event)`` / ``await fake.send_raw(text)`` push frames to the live websocket(s).
- ``await fake.drop()`` closes the live websockets (Asterisk restart / network blip).
- ``fake.close_on_connect = True`` makes every websocket close right after the handshake.
- ``await fake.wait_connections(n)`` waits until ``n`` websocket connects have happened.

Integration tests use the real Asterisk, never this fake.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    delay: float = 0.0
    raw: str | None = None  # sent verbatim instead of JSON


@dataclass
class Recorded:
    method: str
    raw_path: str
    path: str
    query: list[tuple[str, str]]
    authorization: str | None
    body: Any = None


@dataclass
class FakeAri:
    username: str = "dunline"
    password: str = "s3cret"
    channels: list[dict[str, Any]] = field(default_factory=list)
    bridges: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[tuple[str, str], Reply] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    ws_queries: list[dict[str, str]] = field(default_factory=list)
    close_on_connect: bool = False
    connections: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._sockets: set[web.WebSocketResponse] = set()
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> FakeAri:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ---------------------------------------------------------------------------------
    async def send(self, event: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(event))

    async def send_raw(self, text: str) -> None:
        for ws in list(self._sockets):
            await ws.send_str(text)

    async def drop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()

    async def wait_connections(self, n: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._cond:
            await self._cond.wait_for(lambda: self.connections >= n)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- handlers ----------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {token}"

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        body = None
        if request.can_read_body:
            text = await request.text()
            body = json.loads(text) if text else None
        self.requests.append(
            Recorded(
                method=request.method,
                raw_path=request.raw_path.split("?", 1)[0],
                path=request.path,
                query=list(request.query.items()),
                authorization=request.headers.get("Authorization"),
                body=body,
            )
        )
        if not self._authorized(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        reply = self.replies.get((request.method, request.path)) or self._default(request)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw is not None:
            return web.Response(status=reply.status, text=reply.raw)
        if reply.status == 204 or reply.body is None:
            return web.Response(status=reply.status if reply.body is not None else 204)
        return web.json_response(reply.body, status=reply.status)

    def _default(self, request: web.Request) -> Reply:
        path = request.path
        if request.method == "GET" and path == "/ari/channels":
            return Reply(body=self.channels)
        if request.method == "GET" and path == "/ari/bridges":
            return Reply(body=self.bridges)
        if request.method == "GET" and path == "/ari/asterisk/ping":
            return Reply(body={"ping": "pong", "asterisk_id": "fake"})
        if request.method == "POST" and path.endswith("/play"):
            return Reply(body={"id": request.query.get("playbackId", "p"), "state": "queued"})
        if request.method == "POST" and path.startswith("/ari/bridges/") and path.count("/") == 3:
            return Reply(body={"id": path.rsplit("/", 1)[1], "bridge_type": request.query.get("type")})
        return Reply(status=204)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_queries.append(dict(request.query))
        async with self._cond:
            self.connections += 1
            self._sockets.add(ws)
            self._cond.notify_all()
        try:
            if self.close_on_connect:
                await ws.close()
                return ws
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.discard(ws)
        return ws
