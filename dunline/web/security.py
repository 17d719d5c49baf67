"""The console's and the API's gates, as aiohttp middlewares (outermost first):

1. `headers`: a strict Content-Security-Policy (no inline script or style, nothing from elsewhere),
   no framing, no sniffing, no referrer, no caching of pages holding personal data; and every error
   answered in the form the client asked for (JSON under `/api/`, a short page elsewhere).
2. `api_auth`: under `/api/v1/` (the OpenAPI document aside), a request without a valid bearer token
   gets 401 before any handler runs, route or not; a token without the route's scope gets 403.
3. `console_auth`: every console route but the public ones needs a live session (else a redirect to
   the login page for a page, 401 for anything else), a role allowed on the route (`roles.CONSOLE`,
   else 403), and on every state-changing method the session's CSRF token in the `X-CSRF-Token`
   header or the `csrf` form field (else 403).
"""

from __future__ import annotations

import hmac
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlencode

from aiohttp import web

from dunline.store import users
from dunline.web import roles
from dunline.web.context import SESSION, SESSION_COOKIE, TOKEN, services

log = logging.getLogger("dunline.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/api/v1/"
OPENAPI_PATH = "/api/v1/openapi.json"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _route_name(request: web.Request) -> str | None:
    route = request.match_info.route
    return getattr(route, "name", None) or getattr(getattr(route, "resource", None), "name", None)


def _error(request: web.Request, status: int, message: str, **extra: object) -> web.Response:
    if request.path.startswith("/api/"):
        return web.json_response({"error": message, **extra}, status=status)
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status}</title></head>'
        f"<body><main><h1>{status}</h1><p>{html.escape(message)}</p>"
        '<p><a href="/">Back to Dunline</a></p></main>'
        "</body></html>"
    )
    return web.Response(text=body, status=status, content_type="text/html")


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        response = _error(request, exc.status, message or exc.reason)
        for name in ("Retry-After", "WWW-Authenticate", "Allow"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    if services(request).settings.console.tls:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


@web.middleware
async def api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX) or request.path == OPENAPI_PATH:
        return await handler(request)
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    svc = services(request)
    token = None
    if scheme.lower() == "bearer" and value.strip():
        token = await users.find_token(svc.pool, value.strip(), now=svc.clock())
    if token is None:
        raise web.HTTPUnauthorized(
            text="a valid API token is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": 'Bearer realm="dunline"'},
        )
    name = _route_name(request)
    needed = roles.API.get(name or "")
    if needed is None and name is not None:
        raise web.HTTPForbidden(text=f"route {name} has no scope")
    if needed is not None and needed not in token.scopes:
        raise web.HTTPForbidden(text=f"this token lacks the scope {needed}")
    request[TOKEN] = token
    return await handler(request)


@web.middleware
async def console_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        return await handler(request)
    name = _route_name(request)
    if name is None or name in roles.PUBLIC:
        return await handler(request)  # a 404 or 405, or a public route
    svc = services(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    console = svc.settings.console
    found = None
    if cookie:
        found = await users.load_session(
            svc.pool, cookie, now=svc.clock(), idle=timedelta(minutes=console.session_idle_min)
        )
    if found is None:
        if request.method == "GET" and "HX-Request" not in request.headers:
            raise web.HTTPSeeOther("/login?" + urlencode({"next": request.rel_url.path_qs}))
        raise web.HTTPUnauthorized(text="not logged in (or the session ended): log in again")
    if not roles.allowed(name, found.role):
        raise web.HTTPForbidden(text=f"the role {found.role} may not use this page")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            sent = str((await request.post()).get("csrf", ""))
        if not sent or not hmac.compare_digest(sent, found.csrf_token):
            raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page and try again")
    request[SESSION] = found
    return await handler(request)
