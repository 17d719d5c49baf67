"""Hardened AMI client on top of panoramisk 1.4.

panoramisk writes ``key: value`` lines unchecked, has no timeout on actions, returns from ``connect()``
before login, never checks a ping reply, re-sends unanswered actions after a reconnect and reconnects on
timers nobody can cancel. This wrapper fixes each of those:

* every header name and value is validated before a byte is written (CR, LF, NUL, 1024-byte lines,
  128 headers; Variable names are plain channel variables and values carry no ``,`` ``"`` ``\\``, which
  Asterisk would split or strip);
* every action has a timeout; a timed-out action is cancelled and forgotten;
* ``connect()`` returns after a successful login only;
* nothing is ever replayed after a reconnect: pending callers get ``AmiConnectionError`` at once and
  reconcile Originates by their ``ChannelId``;
* a liveness task pings, aborts a dead transport and drives reconnect (its own, cancellable);
* Originate is Context/Exten/Priority only, always ``Async: true`` with a validated ``ChannelId``.

Errors::

    AmiError                          base of everything raised here
    ├── AmiValueError (ValueError)    a header/value that must not be sent; nothing was sent
    ├── AmiTimeout                    action, login or ping got no reply in time
    ├── AmiConnectionError            not connected, login refused, connection lost while waiting
    └── AmiActionError                the server answered Response: Error (.action, .message)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import actions as pk_actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager

log = logging.getLogger("dunline.ami")
_pk_log = logging.getLogger("dunline.ami.panoramisk")

MAX_LINE_BYTES = 1024  # "Name: value\r\n", AMI's per-line input buffer
MAX_HEADERS = 128  # AST_MAX_MANHEADERS
ORIGINATE_REASONS: dict[int, str] = {
    0: "failed",  # no channel / technology failure
    1: "failed",  # AST_CONTROL_HANGUP: hung up before answer
    3: "no_answer",  # AST_CONTROL_RINGING: still ringing at timeout
    4: "answered",  # AST_CONTROL_ANSWER
    5: "busy",  # AST_CONTROL_BUSY
    8: "congestion",  # AST_CONTROL_CONGESTION
}
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_CHANNEL_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_VAR_NAME = re.compile(r"_{0,2}[A-Za-z][A-Za-z0-9_]{0,79}")
_BAD_CHARS = re.compile(r"[\r\n\x00]")
_BAD_VAR_CHARS = re.compile(r"[\r\n\x00,\"\\]")
_RESERVED_ACTIONS = frozenset({"originate", "login", "logoff", "challenge"})
_RESERVED_HEADERS = frozenset({"action", "actionid"})
_TRUE = frozenset({"on", "yes", "true", "y", "t", "1"})


class AmiError(Exception):
    """Base of every AMI error."""


class AmiValueError(AmiError, ValueError):
    """A header or value that must not be sent; nothing was written."""


class AmiTimeout(AmiError):
    """An action, the login or a ping got no reply in time."""


class AmiConnectionError(AmiError):
    """Not connected, login refused, or the connection was lost while waiting."""


class AmiActionError(AmiError):
    """The server answered ``Response: Error``."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


@dataclass(frozen=True)
class AmiSettings:
    host: str
    port: int
    username: str
    secret: str
    action_timeout: float = 5.0
    connect_timeout: float = 10.0
    ping_interval: float = 5.0
    ping_timeout: float = 3.0
    reconnect: bool = True
    reconnect_delay: float = 0.5
    events: str = "on"


@dataclass(frozen=True)
class OriginateResult:
    channel_id: str
    response: str
    reason: int
    result: str
    uniqueid: str | None


def mask(text: str) -> str:
    """Mask every digit of a digit run except its last four (phone numbers in channel names)."""
    return re.sub(r"\d(?=\d{4})", "*", text)


def _check_value(header: str, value: object, bad: re.Pattern[str] = _BAD_CHARS) -> str:
    if not isinstance(value, str):
        raise AmiValueError(f"header {header!r}: value must be str, not {type(value).__name__}")
    if bad.search(value):
        what = "CR, LF or NUL" if bad is _BAD_CHARS else "CR, LF, NUL, ',', '\"' or '\\'"
        raise AmiValueError(f"header {header!r}: value contains {what}")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise AmiValueError(f"header {header!r}: value is not encodable as UTF-8") from None
    return value


def _build(name: str, headers: Mapping[str, str | list[str]]) -> dict[str, str | list[str]]:
    """Validate an action; return the fields for panoramisk. Raises AmiValueError, sends nothing."""
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise AmiValueError(f"invalid action name {name!r}")
    fields: dict[str, str | list[str]] = {"Action": name}
    seen = {"action"}
    count = 2  # Action + the ActionID panoramisk adds
    for key, value in headers.items():
        if not isinstance(key, str) or not _HEADER_NAME.fullmatch(key):
            raise AmiValueError(f"invalid header name {key!r}")
        if key.lower() in seen or key.lower() in _RESERVED_HEADERS:
            raise AmiValueError(f"header {key!r} is duplicated or reserved")
        seen.add(key.lower())
        values = value if isinstance(value, list) else [value]
        for item in values:
            _check_value(key, item)
            if len(f"{key}: {item}\r\n".encode()) > MAX_LINE_BYTES:
                raise AmiValueError(f"header {key!r}: line longer than {MAX_LINE_BYTES} bytes")
        count += len(values)
        fields[key] = value
    if count > MAX_HEADERS:
        raise AmiValueError(f"action {name}: {count} headers, AMI accepts at most {MAX_HEADERS}")
    return fields


def _variables(variables: Mapping[str, str]) -> list[str]:
    out = []
    for key, value in variables.items():
        if not isinstance(key, str) or not _VAR_NAME.fullmatch(key):
            raise AmiValueError(f"header 'Variable': invalid variable name {key!r}")
        out.append(f"{key}={_check_value(f'Variable {key}', value, _BAD_VAR_CHARS)}")
    return out


def _events_deliver_call(events: str) -> bool:
    mask_ = events.strip().lower()
    return mask_ in _TRUE or bool({"call", "all"} & {p.strip() for p in mask_.split(",")})


def _as_dict(msg: Any) -> dict[str, str]:
    """Headers of a panoramisk Message; repeated headers joined by LF; body (if any) as 'content'."""
    out = {k: v if isinstance(v, str) else "\n".join(v) for k, v in msg.items()}
    if not out.get("content"):
        out.pop("content", None)
    return out


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """Tells the manager *which* connection was lost, so a stale one cannot end a new one."""

    def connection_lost(self, exc: object) -> None:
        if not self.closed:
            self.close()
            if self.factory is not None:
                self.factory.protocol_lost(self, exc)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager without its own pinger, reconnect timers or action replay."""

    pinger: asyncio.TimerHandle | None
    patterns: list[tuple[str, re.Pattern[str]]]

    def __init__(self, owner: Ami, **config: Any) -> None:
        super().__init__(**config)
        self._owner = owner
        self.callbacks.pop("FullyBooted", None)  # its send_awaiting_actions would replay
        self.patterns = [p for p in self.patterns if p[0] != "FullyBooted"]

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # the owner's connect attempt reports it; no call_later(self.connect)
        super().connection_made(f)
        if self.pinger is not None:  # panoramisk's own pinger never checks the reply
            self.pinger.cancel()
            self.pinger = None

    def login(self, future: asyncio.Future[Any]) -> bool:
        self.authenticated_future = None
        resp = None if future.cancelled() else future.result()
        self.authenticated = bool(resp is not None and resp.success)
        self._owner._login_done(resp)
        return self.authenticated

    def ping(self) -> None:  # never scheduled: the owner runs a real liveness check
        self.pinger = None

    def protocol_lost(self, protocol: _Protocol, exc: object) -> None:
        if protocol is self.protocol:
            self._connected = False
            self._owner._handle_lost("connection lost")


class _Redact(logging.Filter):
    """panoramisk logs whole actions and messages (secrets, numbers): keep its templates only."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.args = ()  # its templates hold no "{" or "<"; a pre-formatted action/message does
        record.msg = re.sub(r"(?s)[{<].*", "<redacted>", str(record.msg))
        return True


_pk_log.addFilter(_Redact())


class Ami:
    def __init__(self, settings: AmiSettings) -> None:
        for field in ("host", "username", "secret", "events"):
            _check_value(field, getattr(settings, field))
        if not _events_deliver_call(settings.events):
            raise AmiValueError("header 'Events': mask must include 'call' (OriginateResponse)")
        self._s = settings
        self._manager = _Manager(
            self,
            host=settings.host,
            port=settings.port,
            username=settings.username,
            secret=settings.secret,
            events=settings.events,
            forgetable_actions=("ping", "login", "originate"),  # compared with action.lower()
            log=_pk_log,
            protocol_factory=_Protocol,
        )
        self._manager.register_event("*", self._dispatch)
        self._subs: dict[str, list[Callable[[dict[str, str]], None]]] = {}
        self._state_cbs: list[Callable[[str], None]] = []
        self._inflight: set[asyncio.Future[Any]] = set()
        self._login_fut: asyncio.Future[Any] | None = None
        self._lost = asyncio.Event()
        self._logged_in = False
        self._closed = False
        self._supervisor: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._closed:
            raise AmiConnectionError("AMI client is closed")
        if self._supervisor is not None:
            return
        await self._open()
        self._notify("connected")
        self._supervisor = asyncio.create_task(self._supervise(), name="dunline.ami.supervisor")

    async def close(self) -> None:
        self._closed = True
        self._logged_in = False
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        self._fail_inflight("AMI client closed")
        self._manager.close()
        self._manager.awaiting_actions.clear()

    @property
    def connected(self) -> bool:
        return self._logged_in and not self._lost.is_set()

    def on_state(self, callback: Callable[[str], None]) -> None:
        self._state_cbs.append(callback)

    def subscribe(self, event: str, callback: Callable[[dict[str, str]], None]) -> Callable[[], None]:
        key = event.lower()
        self._subs.setdefault(key, []).append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subs.get(key, []).remove(callback)

        return unsubscribe

    # -- actions ---------------------------------------------------------------------------------
    async def action(
        self,
        name: str,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, str]:
        """Send one action; return its Response headers (event lists are not collected)."""
        if isinstance(name, str) and name.lower() in _RESERVED_ACTIONS:
            raise AmiValueError(f"action {name!r} is not allowed here (use originate())")
        reply = await self._request(_build(name, dict(headers or {})), timeout or self._s.action_timeout)
        return _as_dict(reply[0])

    async def action_list(
        self,
        name: str,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[dict[str, str]]:
        """Send an action answered by an event list (PJSIPShowContacts, CoreShowChannels ...); return
        the list's events, without the Response and the closing ...Complete event."""
        if isinstance(name, str) and name.lower() in _RESERVED_ACTIONS:
            raise AmiValueError(f"action {name!r} is not allowed here (use originate())")
        reply = await self._request(_build(name, dict(headers or {})), timeout or self._s.action_timeout)
        return [_as_dict(m) for m in reply[1:] if not str(m.get("Event", "")).endswith("Complete")]

    async def ping(self) -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        reply = (await self._request(_build("Ping", {}), self._s.ping_timeout))[0]
        if reply.response != "Success" or reply.get("Ping") != "Pong":
            raise AmiError("Ping: reply is not 'Response: Success' with 'Ping: Pong'")
        return loop.time() - start

    async def originate(
        self,
        *,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        channel_id: str,
        other_channel_id: str | None = None,
        caller_id: str | None = None,
        timeout_ms: int = 30000,
        variables: Mapping[str, str] | None = None,
        account: str | None = None,
    ) -> OriginateResult:
        """Async Originate to Context/Exten/Priority; waits for its OriginateResponse."""
        for header, cid in (("ChannelId", channel_id), ("OtherChannelId", other_channel_id)):
            if cid is not None and (not isinstance(cid, str) or not _CHANNEL_ID.fullmatch(cid)):
                raise AmiValueError(f"header {header!r}: must be 1..64 characters of [A-Za-z0-9._-]")
        for header, text in (("Channel", channel), ("Context", context), ("Exten", exten)):
            if not isinstance(text, str) or not text:
                raise AmiValueError(f"header {header!r}: required")
        if not isinstance(priority, int) or priority < 1:
            raise AmiValueError("header 'Priority': must be an int >= 1")
        if not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise AmiValueError("header 'Timeout': must be a positive int (milliseconds)")
        headers: dict[str, str | list[str]] = {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
            "ChannelId": channel_id,
            "Timeout": str(timeout_ms),
            "Async": "true",
        }
        optional = {"OtherChannelId": other_channel_id, "CallerID": caller_id, "Account": account}
        headers.update({k: v for k, v in optional.items() if v is not None})
        if variables:
            headers["Variable"] = _variables(variables)
        fields = _build("Originate", headers)
        log.info("originate channel_id=%s channel=%s", channel_id, mask(channel))
        replies = await self._request(fields, timeout_ms / 1000 + self._s.action_timeout)
        event = replies[-1]
        if len(replies) < 2 or event.event != "OriginateResponse":
            raise AmiError(f"Originate {channel_id}: no OriginateResponse in the reply")
        uniqueid = event.get("Uniqueid") or None
        uniqueid = None if uniqueid == "<null>" else uniqueid
        if uniqueid is not None and uniqueid != channel_id:
            raise AmiError(f"Originate {channel_id}: OriginateResponse is for Uniqueid {uniqueid!r}")
        try:
            reason = int(event.get("Reason", "0"))
        except ValueError:
            reason = 0
        result = OriginateResult(
            channel_id=channel_id,
            response=event.get("Response", ""),
            reason=reason,
            result=ORIGINATE_REASONS.get(reason, "failed"),
            uniqueid=uniqueid,
        )
        log.info("originate channel_id=%s result=%s reason=%d", channel_id, result.result, reason)
        return result

    async def _request(self, fields: dict[str, str | list[str]], limit: float) -> list[Any]:
        """Send validated fields; return [Response, ...]. Forgets the action on timeout or error."""
        name = str(fields["Action"])
        protocol = self._manager.protocol
        if not self.connected or protocol is None or protocol.closed:
            raise AmiConnectionError(f"{name}: not connected to AMI")
        act = pk_actions.Action(fields)
        log.debug("send %s action_id=%s headers=%s", name, act.id, ",".join(fields))
        fut = self._manager.send_action(act)
        self._inflight.add(fut)
        try:
            async with asyncio.timeout(limit):
                reply = await fut
        except TimeoutError:
            log.warning("%s action_id=%s: no reply within %.3gs", name, act.id, limit)
            raise AmiTimeout(f"{name}: no reply within {limit:.3g}s") from None
        finally:
            self._inflight.discard(fut)
            fut.cancel()
            protocol.responses.pop(act.id, None)
        replies = reply if isinstance(reply, list) else [reply]
        if not replies[0].success:
            raise AmiActionError(name, replies[0].message or replies[0].response)
        return replies

    # -- connection management -------------------------------------------------------------------
    async def _open(self) -> None:
        """One connection + login attempt."""
        loop = asyncio.get_running_loop()
        self._manager.loop = loop
        self._login_fut = login_fut = loop.create_future()
        self._lost = asyncio.Event()
        where = f"{self._s.host}:{self._s.port}"
        try:
            async with asyncio.timeout(self._s.connect_timeout):
                try:
                    await self._manager.connect()
                except OSError as exc:
                    raise AmiConnectionError(f"cannot connect to AMI at {where}: {exc}") from exc
                resp = await login_fut
        except TimeoutError:
            self._manager.close()
            raise AmiTimeout(f"AMI login at {where}: no answer within {self._s.connect_timeout}s") from None
        except AmiError:
            self._manager.close()
            raise
        finally:
            login_fut.cancel()  # no-op when done
        if resp is None or not resp.success:
            self._manager.close()
            why = "no reply" if resp is None else resp.message or resp.response
            raise AmiConnectionError(f"AMI login at {where} refused: {why}")
        self._logged_in = True
        log.info("logged in to AMI at %s", where)

    def _login_done(self, resp: Any) -> None:
        if self._login_fut is not None and not self._login_fut.done():
            self._login_fut.set_result(resp)

    def _handle_lost(self, why: str) -> None:
        """The current connection is gone: fail every waiter now, never replay."""
        if self._lost.is_set():
            return
        was_up, self._logged_in = self._logged_in, False
        self._lost.set()
        self._manager.awaiting_actions.clear()
        if self._manager.authenticated_future is not None:
            self._manager.authenticated_future.cancel()
        if self._login_fut is not None and not self._login_fut.done():
            self._login_fut.set_exception(AmiConnectionError(f"AMI {why} during login"))
        self._fail_inflight(f"AMI {why}")
        if was_up and not self._closed:
            log.warning("AMI %s", why)
            self._notify("lost")

    def _fail_inflight(self, why: str) -> None:
        for fut in list(self._inflight):
            if not fut.done():
                fut.set_exception(AmiConnectionError(why))

    async def _supervise(self) -> None:
        while True:
            await self._watch()
            if not self._s.reconnect:
                return
            delay = max(self._s.reconnect_delay, 0.01)
            while True:
                await asyncio.sleep(delay)
                try:
                    await self._open()
                    break
                except AmiError as exc:
                    log.warning("AMI reconnect failed: %s", exc)
                    delay = min(delay * 2, max(self._s.reconnect_delay, 30.0))
            self._notify("reconnected")

    async def _watch(self) -> None:
        """Ping every ping_interval until the connection is lost; abort it when a ping fails."""
        lost = self._lost
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._s.ping_interval):
                    await lost.wait()
                return
            try:
                await self.ping()
            except AmiError as exc:
                if lost.is_set():
                    return
                transport = getattr(self._manager.protocol, "transport", None)
                self._handle_lost(f"liveness check failed ({type(exc).__name__})")
                if transport is not None:
                    transport.abort()  # panoramisk's connection_lost follows; it is stale now

    def _notify(self, state: str) -> None:
        for cb in list(self._state_cbs):
            try:
                cb(state)
            except Exception:
                log.exception("on_state callback failed for %s", state)

    def _dispatch(self, _manager: Any, event: Any) -> None:
        data = _as_dict(event)
        for key in (str(event.event).lower(), "*"):
            for cb in list(self._subs.get(key, ())):
                try:
                    cb(data)
                except Exception:
                    log.exception("AMI event callback failed for %s", event.event)
