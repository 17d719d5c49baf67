"""Thin aiohttp client for the Asterisk 22 ARI REST interface.

Every call goes through :meth:`AriClient.request`, which adds ``/ari`` to the base URL, sends basic
auth, puts a timeout on the whole exchange (connect, send, read), and maps failures onto one error
hierarchy::

    AriError                         base of everything this boundary raises
    ├── AriValueError (+ValueError)  bad id / path rejected locally, nothing was sent
    ├── AriTimeout                   no complete answer within the timeout
    ├── AriConnectionError           TCP/HTTP transport failure (refused, reset, bad response)
    └── AriHttpError                 ARI answered with a non-2xx status (.status .method .path .message)
        ├── AriBadRequest            400, 422
        ├── AriNotFound              404
        └── AriConflict              409

The status -> class map is the table ``STATUS_ERRORS``; any other status (401, 500, 503...) is a
plain ``AriHttpError``. ``message`` is ARI's ``{"message": ...}`` body (or the raw text).

Ids used as path segments are validated (no ``/``, no control characters, not empty) and
percent-quoted before anything is sent. Credentials never reach the logs.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

__all__ = [
    "STATUS_ERRORS",
    "AriBadRequest",
    "AriClient",
    "AriConflict",
    "AriConnectionError",
    "AriError",
    "AriHttpError",
    "AriNotFound",
    "AriSettings",
    "AriTimeout",
    "AriValueError",
    "ari_path",
]

log = logging.getLogger("dunline.ari")


class AriError(Exception):
    """Base of every error raised by the ARI boundary."""


class AriValueError(AriError, ValueError):
    """An argument (id, path) was rejected before any request was sent."""


class AriTimeout(AriError):
    """ARI did not answer completely within the timeout."""


class AriConnectionError(AriError):
    """Transport failure talking to ARI (refused, reset, malformed HTTP)."""


class AriHttpError(AriError):
    """ARI answered with a non-2xx status."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.method = method
        self.path = path
        self.message = message


class AriBadRequest(AriHttpError):
    """400 / 422: ARI rejected the parameters."""


class AriNotFound(AriHttpError):
    """404: channel, bridge, playback or variable does not exist (any more)."""


class AriConflict(AriHttpError):
    """409: the resource is in the wrong state (e.g. channel not in Stasis, duplicate id)."""


STATUS_ERRORS: Mapping[int, type[AriHttpError]] = {
    400: AriBadRequest,
    404: AriNotFound,
    409: AriConflict,
    422: AriBadRequest,
}


@dataclass(frozen=True)
class AriSettings:
    """Where and how to reach ARI. ``base_url`` is the HTTP root, e.g. ``http://127.0.0.1:8088``."""

    base_url: str
    username: str
    password: str = field(repr=False)
    app: str
    request_timeout: float = 5.0
    reconnect_min: float = 0.2
    reconnect_max: float = 5.0

    @property
    def ari_root(self) -> str:
        return self.base_url.rstrip("/") + "/ari"

    @property
    def auth_headers(self) -> dict[str, str]:
        """HTTP basic auth header (built here: aiohttp 3.14 deprecates ``BasicAuth``). Never log it."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}


def _check_text(value: str, what: str) -> None:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise AriValueError(f"{what} contains a control character: {value!r}")


def ari_path(*parts: str) -> str:
    """Build ``/a/b/c`` from literal parts and ids, validating and percent-quoting each one."""
    out: list[str] = []
    for part in parts:
        if not isinstance(part, str) or not part:
            raise AriValueError(f"empty or non-string path segment: {part!r}")
        if "/" in part or part in (".", ".."):
            raise AriValueError(f"path segment contains '/' or is a dot segment: {part!r}")
        _check_text(part, "path segment")
        out.append(quote(part, safe=""))
    return "/" + "/".join(out)


def _query(params: Mapping[str, str | list[str]] | None) -> str:
    if not params:
        return ""
    items: list[str] = []
    for key, value in params.items():
        values = [value] if isinstance(value, str) else list(value)
        for v in values:
            if not isinstance(v, str):
                raise AriValueError(f"query parameter {key!r} must be str, got {type(v).__name__}")
            _check_text(v, f"query parameter {key!r}")
            items.append(f"{quote(key, safe='')}={quote(v, safe='')}")
    return "?" + "&".join(items) if items else ""


def _error_message(body: str) -> str:
    try:
        data = jsonlib.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return body.strip()[:500]


class AriClient:
    """ARI REST client. Owns its ``ClientSession`` unless one is passed in (then ``close`` keeps it)."""

    def __init__(self, settings: AriSettings, session: aiohttp.ClientSession | None = None) -> None:
        self.settings = settings
        self._session = session
        self._owns_session = session is None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session (created on first use, inside the running loop). Shared with AriEvents."""
        if self._closed:
            raise AriConnectionError("AriClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- core ------------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | list[str]] | None = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call override of request_timeout
    ) -> Any:
        """Send one ARI request; return parsed JSON, or None for 204/empty body.

        ``path`` is relative to ``/ari`` and must already be quoted (use :func:`ari_path` for ids).
        """
        if not path.startswith("/") or any(ch.isspace() or ch in "?#" for ch in path):
            raise AriValueError(f"bad ARI path (query goes in params=): {path!r}")
        _check_text(path, "path")
        method = method.upper()
        url = URL(self.settings.ari_root + path + _query(params), encoded=True)
        limit = self.settings.request_timeout if timeout is None else timeout
        session = self.session()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                async with session.request(
                    method, url, json=json, headers=self.settings.auth_headers
                ) as resp:
                    status = resp.status
                    body = await resp.text()
        except TimeoutError as exc:
            log.warning("ARI %s %s timed out after %.3fs", method, path, limit)
            raise AriTimeout(f"{method} {path}: no answer within {limit:.3f}s") from exc
        except aiohttp.ClientError as exc:
            log.warning("ARI %s %s transport error: %s", method, path, type(exc).__name__)
            raise AriConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise AriConnectionError(f"{method} {path}: {exc}") from exc
        elapsed = time.perf_counter() - started
        log.debug("ARI %s %s -> %d in %.1f ms", method, path, status, elapsed * 1000)
        if 200 <= status < 300:
            if status == 204 or not body.strip():
                return None
            try:
                return jsonlib.loads(body)
            except ValueError as exc:
                raise AriConnectionError(f"{method} {path}: non-JSON {status} body") from exc
        cls = STATUS_ERRORS.get(status, AriHttpError)
        raise cls(status, method, path, _error_message(body))

    # -- channels --------------------------------------------------------------------------------
    async def originate(
        self,
        endpoint: str,
        *,
        app: str,
        app_args: Sequence[str],
        channel_id: str,
        ring_timeout_s: int = 30,
        caller_id: str | None = None,
    ) -> dict[str, Any]:
        """Dial ``endpoint`` (``PJSIP/+15550001001@carrier``) straight into Stasis ``app``: when it
        answers, ``StasisStart`` arrives with ``args == app_args`` on channel ``channel_id``."""
        ari_path(channel_id)  # validates the id (it travels as a query parameter)
        if any("," in a for a in app_args):
            raise AriValueError(f"app args must not contain ',': {list(app_args)!r}")
        params: dict[str, str | list[str]] = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": ",".join(app_args),
            "channelId": channel_id,
            "timeout": str(int(ring_timeout_s)),
        }
        if caller_id is not None:
            params["callerId"] = caller_id
        return dict(await self.request("POST", "/channels", params=params) or {})

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", ari_path("channels", channel_id, "answer"))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang up; a channel that is already gone (404) is not an error."""
        try:
            await self.request("DELETE", ari_path("channels", channel_id), params={"reason": reason})
        except AriNotFound:
            log.debug("ARI hangup: channel %s already gone", channel_id)

    async def play(
        self, channel_id: str, media: Sequence[str], *, playback_id: str, lang: str | None = None
    ) -> dict[str, Any]:
        """Start playing ``media`` (``sound:x``, ``number:5``, ``digits:12`` ...) in order."""
        if isinstance(media, str) or not media:
            raise AriValueError("media must be a non-empty sequence of media URIs")
        ari_path(playback_id)  # validates the id (it travels as a query parameter)
        params: dict[str, str | list[str]] = {"media": list(media), "playbackId": playback_id}
        if lang is not None:
            params["lang"] = lang
        result = await self.request("POST", ari_path("channels", channel_id, "play"), params=params)
        return dict(result or {})

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback (barge-in); one already finished (404) is not an error."""
        try:
            await self.request("DELETE", ari_path("playbacks", playback_id))
        except AriNotFound:
            log.debug("ARI stop_playback: playback %s already finished", playback_id)

    async def list_channels(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", "/channels") or [])

    async def list_bridges(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", "/bridges") or [])

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        """Value of a channel variable, or None if it is not set. A missing channel still raises."""
        try:
            result = await self.request(
                "GET", ari_path("channels", channel_id, "variable"), params={"variable": name}
            )
        except AriNotFound as exc:
            if "variable" in exc.message.lower():
                return None
            raise
        value = (result or {}).get("value")
        return None if value is None else str(value)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request(
            "POST",
            ari_path("channels", channel_id, "variable"),
            params={"variable": name, "value": value},
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
    ) -> None:
        params: dict[str, str | list[str]] = {}
        if context is not None:
            params["context"] = context
        if extension is not None:
            params["extension"] = extension
        if priority is not None:
            params["priority"] = str(int(priority))
        await self.request("POST", ari_path("channels", channel_id, "continue"), params=params)

    # -- bridges ---------------------------------------------------------------------------------
    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> dict[str, Any]:
        result = await self.request("POST", ari_path("bridges", bridge_id), params={"type": kind})
        return dict(result or {})

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        ari_path(channel_id)  # validates the id (it travels as a query parameter)
        await self.request(
            "POST", ari_path("bridges", bridge_id, "addChannel"), params={"channel": channel_id}
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge; one already gone (404) is not an error."""
        try:
            await self.request("DELETE", ari_path("bridges", bridge_id))
        except AriNotFound:
            log.debug("ARI destroy_bridge: bridge %s already gone", bridge_id)

    # -- misc ------------------------------------------------------------------------------------
    async def ping(self) -> float:
        """Round trip of ``GET /asterisk/ping`` in seconds."""
        started = time.perf_counter()
        await self.request("GET", "/asterisk/ping")
        return time.perf_counter() - started
