"""The console + API application: routes, templates, static files and the gates (`security.py`).

`build_app(settings, pool)` returns an aiohttp Application; `serve(...)` runs it on
`console.listen` (HTTPS when `console.tls_cert`/`tls_key` are set) until cancelled. Every named route
must have a row in `roles.CONSOLE`, `roles.API` or `roles.PUBLIC`: the app refuses to start otherwise,
so a new page cannot be left open by mistake.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import web

from dunline.config.schema import Settings
from dunline.web import (
    api,
    campaigns,
    desk_views,
    filters,
    login,
    monitor,
    replies,
    roles,
    security,
    trunks,
    views,
)
from dunline.web.context import SERVICES, Services
from dunline.web.desk import DESK, Desk

log = logging.getLogger("dunline.web")
WEB = Path(str(files("dunline.web")))


def _routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login.login_page, name="login")
    r.add_post("/login", login.login_post, name="login.post")
    r.add_post("/logout", login.logout, name="logout")
    r.add_get("/health", views.health, name="health")
    r.add_get("/", views.home, name="home")
    r.add_get("/accounts", views.accounts, name="accounts")
    r.add_get("/accounts/{ref}", views.account, name="account")
    r.add_post("/accounts/{ref}/unmask", views.unmask, name="account.unmask")
    r.add_get("/accounts/{ref}/audit", views.account_audit, name="account.audit")
    r.add_post("/accounts/{ref}/hold", views.hold, name="account.hold")
    r.add_get("/accounts/{ref}/evidence", replies.evidence, name="account.evidence")
    r.add_get("/replies", replies.queue, name="replies")
    r.add_post("/replies/{id}/handled", replies.handled, name="reply.handled")
    r.add_get("/compliance", views.compliance_profiles, name="compliance.profiles")
    r.add_get("/compliance/purge", views.purge_preview, name="compliance.purge")
    r.add_get("/compliance/abandon", views.abandon_report, name="compliance.abandon")
    r.add_get("/users", views.users_page, name="users")
    r.add_get("/trunks", trunks.page, name="trunks")
    r.add_post("/trunks", trunks.add, name="trunks.add")
    r.add_get("/trunks/{name}", trunks.edit_page, name="trunk")
    r.add_post("/trunks/{name}", trunks.edit, name="trunk.edit")
    r.add_post("/trunks/{name}/test", trunks.test_call, name="trunk.test")
    r.add_get("/campaigns", campaigns.campaign_list, name="campaigns")
    r.add_post("/campaigns", campaigns.create, name="campaign.create")
    r.add_get("/campaigns/{id}", campaigns.campaign_page, name="campaign")
    r.add_post("/campaigns/{id}/{command}", campaigns.control, name="campaign.control")
    r.add_get("/campaigns/{id}/events", campaigns.events, name="campaign.events")
    r.add_static("/static", WEB / "static", name="static", append_version=True)
    api.add_routes(app)
    desk_views.add_routes(app)


def check_route_table(app: web.Application) -> None:
    """Every named route is in exactly one of the permission tables."""
    for resource in app.router.resources():
        name = resource.name
        if name is None:
            continue
        homes = [name in roles.CONSOLE, name in roles.API, name in roles.PUBLIC]
        if sum(homes) != 1:
            raise RuntimeError(f"route {name} must be in exactly one of roles.CONSOLE, API, PUBLIC")


def build_app(
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    live: Callable[[int], dict[str, Any] | None] | None = None,
    desk: Desk | None = None,
    trunk_status: trunks.Status | None = None,
    trunk_pbx: trunks.Pbx | None = None,
) -> web.Application:
    """`live(campaign_id)`: what the controller in this process knows of a campaign it runs (the
    pacer, agents); None when the console runs without a controller. `desk`: the agent desktop's link
    to this process's agent pool (None: no controller here, the desk says so). `trunk_status` and
    `trunk_pbx`: the trunks' live state and the PBX the trunk pages change (None: no controller)."""
    app = web.Application(
        middlewares=[security.headers, security.api_auth, security.console_auth],
        client_max_size=8 * 1024 * 1024,
    )
    app[SERVICES] = Services(settings, pool, clock)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(WEB / "templates")),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        context_processors=[aiohttp_jinja2.request_processor],
    )
    filters.install(env)
    _routes(app)
    monitor.install(app, pool, clock, live)
    if trunk_status is not None:
        app[trunks.STATUS] = trunk_status
    if trunk_pbx is not None:
        app[trunks.PBX] = trunk_pbx
    if desk is not None:
        desk.render = lambda name, ctx: env.get_template(name).render(**ctx)
        app[DESK] = desk

        async def close_desk(app: web.Application) -> None:
            await app[DESK].close()

        app.on_shutdown.append(close_desk)
    check_route_table(app)
    return app


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    console = settings.console
    if console.tls_cert is None or console.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(console.tls_cert), str(console.tls_key))
    return ctx


async def serve(
    app: web.Application, settings: Settings, *, ready: Callable[[str], None] | None = None
) -> None:
    """Serve `app` on `console.listen` until cancelled, then close it cleanly."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = ssl_context(settings)
    site = web.TCPSite(
        runner, settings.console.host, settings.console.port, ssl_context=tls, shutdown_timeout=5
    )
    try:
        await site.start()
        url = f"{'https' if tls else 'http'}://{settings.console.listen}/"
        log.info("console and API on %s", url)
        if ready is not None:
            ready(url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
