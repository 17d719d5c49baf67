"""A scripted AMI server speaking Asterisk 22's wire format, for contract tests.

It listens on 127.0.0.1 (port 0), sends the banner, splits actions on a blank line, records every raw
action it receives (bytes, in order, per connection) and answers from ``handlers``: one coroutine per
lower-cased action name, replaceable by a test. The message shapes are Asterisk 22's
(``main/manager.c``): login, Ping, Originate with its ``OriginateResponse`` event, errors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


@dataclass
class ReceivedAction:
    raw: bytes
    headers: list[tuple[str, str]]
    connection: int

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), default)

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def name(self) -> str:
        return (self.get("Action") or "").lower()


@dataclass
class Conn:
    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: ScriptedAmiServer

    def send(self, *headers: tuple[str, str]) -> None:
        if not self.writer.is_closing():
            self.writer.write("".join(f"{k}: {v}\r\n" for k, v in headers).encode() + b"\r\n")

    def respond(self, action: ReceivedAction, response: str, *headers: tuple[str, str]) -> None:
        self.send(("Response", response), ("ActionID", action.get("ActionID") or ""), *headers)

    def drop(self) -> None:
        self.writer.transport.abort()


Handler = Callable[[Conn, ReceivedAction], Coroutine[Any, Any, None]]


async def login_ok(conn: Conn, action: ReceivedAction) -> None:
    server = conn.server
    if server.login_delay:
        await asyncio.sleep(server.login_delay)
    if action.get("Username") == server.username and action.get("Secret") == server.secret:
        conn.respond(action, "Success", ("Message", "Authentication accepted"))
        conn.send(
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Uptime", "12"),
            ("LastReload", "12"),
            ("Status", "Fully Booted"),
        )
    else:  # Asterisk answers, then ends the session
        conn.respond(action, "Error", ("Message", "Authentication failed"))
        await conn.writer.drain()
        conn.writer.close()


async def silent(conn: Conn, action: ReceivedAction) -> None:
    return None


async def pong(conn: Conn, action: ReceivedAction) -> None:
    if conn.server.ping_silent:
        return
    conn.respond(action, "Success", ("Ping", "Pong"), ("Timestamp", "1721900000.123456"))


def originate_reply(reason: int = 4, *, uniqueid: str | None = None, delay: float = 0.0) -> Handler:
    """Originate handler: queued, then OriginateResponse with ``reason`` (Uniqueid = ChannelId)."""

    async def handler(conn: Conn, action: ReceivedAction) -> None:
        conn.respond(action, "Success", ("Message", "Originate successfully queued"))
        await asyncio.sleep(delay)
        answered = reason == 4
        chan = action.get("Channel") or ""
        conn.send(
            ("Event", "OriginateResponse"),
            ("Privilege", "call,all"),
            ("ActionID", action.get("ActionID") or ""),
            ("Response", "Success" if answered else "Failure"),
            ("Channel", f"{chan}-00000001" if answered else chan),
            ("Context", action.get("Context") or ""),
            ("Exten", action.get("Exten") or ""),
            ("Reason", str(reason)),
            ("Uniqueid", uniqueid or (action.get("ChannelId") or "") if answered else "<null>"),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
        )

    return handler


def error_reply(message: str) -> Handler:
    async def handler(conn: Conn, action: ReceivedAction) -> None:
        conn.respond(action, "Error", ("Message", message))

    return handler


async def drop(conn: Conn, action: ReceivedAction) -> None:
    conn.drop()


def then_drop(first: Handler) -> Handler:
    async def handler(conn: Conn, action: ReceivedAction) -> None:
        await first(conn, action)
        await conn.writer.drain()
        conn.drop()

    return handler


@dataclass
class ScriptedAmiServer:
    username: str = "dunline"
    secret: str = "s3cret-pass"
    login_delay: float = 0.0
    ping_silent: bool = False
    received: list[ReceivedAction] = field(default_factory=list)
    connections: int = 0
    handlers: dict[str, Handler] = field(default_factory=dict)
    _server: asyncio.Server | None = None
    _conns: list[Conn] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)  # connections and replies

    def __post_init__(self) -> None:
        defaults = {"login": login_ok, "ping": pong, "originate": originate_reply(4)}
        self.handlers = {**defaults, **self.handlers}

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def actions(self, name: str) -> list[ReceivedAction]:
        return [a for a in self.received if a.name == name.lower()]

    @property
    def raw(self) -> bytes:
        return b"".join(a.raw for a in self.received)

    async def start(self) -> ScriptedAmiServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in self._conns:
            conn.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def drop_all(self) -> None:
        for conn in self._conns:
            conn.drop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = Conn(self.connections, reader, writer, self)
        self._conns.append(conn)
        writer.write(BANNER)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                lines = raw.decode("utf-8", "replace").split("\r\n")
                headers = [tuple(line.split(": ", 1)) for line in lines if ": " in line]
                action = ReceivedAction(raw, [(h[0], h[1]) for h in headers], conn.number)
                self.received.append(action)
                handler = self.handlers.get(action.name)
                if handler is None:
                    conn.respond(action, "Error", ("Message", "Invalid/unknown command"))
                else:  # concurrently, like Asterisk's async Originate and its other actions
                    reply = asyncio.create_task(handler(conn, action))
                    self._tasks.add(reply)
                    reply.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            self._tasks.discard(task)
            with contextlib.suppress(ValueError):
                self._conns.remove(conn)
