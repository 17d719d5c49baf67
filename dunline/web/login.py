"""Login and logout: argon2id passwords, a rate limit per client address, a lock-out per user after
failed attempts in a row, an opaque session cookie (HttpOnly, SameSite=Strict, Secure under TLS)."""

from __future__ import annotations

import asyncio
import hmac
from datetime import timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from dunline.store import users
from dunline.web import passwords
from dunline.web.context import LOGIN_COOKIE, SESSION_COOKIE, client_address, services

GENERIC = "Wrong user name or password."


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never `//host` or a scheme (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _cookie_flags(request: web.Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "Strict",
        "secure": services(request).settings.console.tls,
        "path": "/",
    }


async def login_page(request: web.Request) -> web.StreamResponse:
    return _form(request, None, status=200)


def _form(request: web.Request, error: str | None, *, status: int, name: str = "") -> web.StreamResponse:
    csrf = passwords.new_secret()
    response = aiohttp_jinja2.render_template(
        "login.html",
        request,
        {"csrf": csrf, "error": error, "next": _safe_next(request.query.get("next")), "name": name},
        status=status,
    )
    response.set_cookie(LOGIN_COOKIE, csrf, max_age=1800, **_cookie_flags(request))
    return response


async def login_post(request: web.Request) -> web.StreamResponse:
    svc = services(request)
    console = svc.settings.console
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _form(request, "The login form expired: please try again.", status=403, name=name)
    if not name or not password:
        return _form(request, "Enter your user name and your password.", status=400, name=name)
    now = svc.clock()
    client = client_address(request)
    recent = await users.recent_attempts(svc.pool, client, now - timedelta(minutes=1))
    if recent >= console.login_per_minute:
        response = _form(
            request, "Too many login attempts from this address: wait a minute.", status=429, name=name
        )
        response.headers["Retry-After"] = "60"
        return response
    user = await users.find_user(svc.pool, name)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        await users.record_failure(
            svc.pool,
            client,
            name,
            None,
            now=now,
            max_failures=console.login_max_failures,
            lockout=timedelta(0),
        )
        until = user.locked_until.strftime("%H:%M UTC")
        return _form(
            request,
            f"This user is locked after too many failed logins, until {until}; an admin can unlock it.",
            status=423,
            name=name,
        )
    ok = await asyncio.to_thread(passwords.verify, user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        locked = await users.record_failure(
            svc.pool,
            client,
            name,
            user,
            now=now,
            max_failures=console.login_max_failures,
            lockout=timedelta(minutes=console.lockout_min),
        )
        if locked:
            return _form(
                request,
                f"Too many failed logins: this user is locked for {console.lockout_min} minutes.",
                status=423,
                name=name,
            )
        return _form(request, GENERIC, status=401, name=name)
    session_id, csrf = passwords.new_secret(), passwords.new_secret()
    expires = now + timedelta(hours=console.session_max_h)
    await users.open_session(svc.pool, user, session_id, csrf, client=client, now=now, expires=expires)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    response.set_cookie(SESSION_COOKIE, session_id, **_cookie_flags(request))
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await users.close_session(services(request).pool, cookie)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
