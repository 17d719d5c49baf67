"""What every handler of the console and the API reads from the app and the request (typed keys)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiohttp import web

from dunline.config.schema import Settings
from dunline.store.users import Session, Token


@dataclass(frozen=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool
    clock: Callable[[], datetime]  # aware UTC; tests move it


SERVICES = web.AppKey("services", Services)
SESSION = web.RequestKey("session", Session)
TOKEN = web.RequestKey("token", Token)
SESSION_COOKIE = "dunline_session"
LOGIN_COOKIE = "dunline_login"  # the login form's CSRF value (double submit, before any session)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def session(request: web.Request) -> Session:
    """The logged-in user's session (set by the auth middleware on every non-public console route)."""
    found: Session | None = request.get(SESSION)
    if found is None:
        raise web.HTTPUnauthorized(text="not logged in")
    return found


def token(request: web.Request) -> Token:
    found: Token | None = request.get(TOKEN)
    if found is None:
        raise web.HTTPUnauthorized(text="no valid API token")
    return found


def client_address(request: web.Request) -> str:
    """The peer address (no proxy header is trusted: put a proxy's address rules in front if needed)."""
    return request.remote or "unknown"
