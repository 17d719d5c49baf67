"""Campaign pages: the list, the create form, control (start, pause, resume, stop: the same
`store.campaigns` calls as the CLI, so a runner on any controller acts within a tick) and the live
monitor (`monitor.py`)."""

from __future__ import annotations

from typing import Any, Literal

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dunline.dialer.campaign_spec import CampaignSpecError, parse_spec
from dunline.store import campaigns as store
from dunline.store import monitor as monitor_store
from dunline.web import roles
from dunline.web.context import services, session
from dunline.web.monitor import MONITOR
from dunline.web.views import _base, _parse

COMMANDS = ("start", "pause", "resume", "stop")


class CreateForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csrf: str | None = None
    name: str = Field(min_length=1, max_length=80)
    mode: Literal["ivr", "preview", "progressive", "predictive", "sms"]
    tiers: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_, -]*$")
    stages: str | None = Field(default=None, max_length=200, pattern=r"^[a-z, ]*$")


def campaign_id(request: web.Request) -> int:
    """The `{id}` of the path; 404 naming it when it is not a campaign id."""
    text = request.match_info["id"]
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise web.HTTPNotFound(text=f"no campaign {text!r}")
    return int(text)


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


async def campaign_list(request: web.Request) -> web.StreamResponse:
    async with services(request).pool.acquire() as conn:
        found = await monitor_store.campaign_list(conn)
    s = session(request)
    ctx = _base(request, campaigns=found, may_create=roles.allowed("campaign.create", s.role), error=None)
    return aiohttp_jinja2.render_template("campaigns.html", request, ctx)


async def create(request: web.Request) -> web.StreamResponse:
    form: CreateForm = _parse(CreateForm, await request.post())
    doc: dict[str, Any] = {"name": form.name, "mode": form.mode}
    if _split(form.tiers):
        doc["tiers"] = _split(form.tiers)
    if _split(form.stages):
        doc["stages"] = _split(form.stages)
    try:
        spec = parse_spec(doc)
    except (ValueError, CampaignSpecError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    async with services(request).pool.acquire() as conn, conn.transaction():
        cid = await store.create(conn, spec.model_dump(mode="json"), actor=session(request).user_name)
    raise web.HTTPSeeOther(f"/campaigns/{cid}")


async def control(request: web.Request) -> web.StreamResponse:
    cid = campaign_id(request)
    command = request.match_info["command"]
    if command not in COMMANDS:
        raise web.HTTPNotFound(text=f"no campaign command {command!r}; one of {', '.join(COMMANDS)}")
    async with services(request).pool.acquire() as conn:
        try:
            status = await store.move(conn, cid, command, actor=session(request).user_name)
        except store.CampaignError as exc:
            raise web.HTTPConflict(text=str(exc)) from None
    if request.headers.get("HX-Request"):
        return web.Response(text=f"Campaign {cid} is now {status}.", content_type="text/plain")
    raise web.HTTPSeeOther(f"/campaigns/{cid}")


async def campaign_page(request: web.Request) -> web.StreamResponse:
    cid = campaign_id(request)
    svc = services(request)
    async with svc.pool.acquire() as conn:
        snap = await monitor_store.snapshot(conn, cid, svc.clock())
    if snap is None:
        raise web.HTTPNotFound(text=f"no campaign {cid}")
    live = request.app[MONITOR].live
    snap["here"] = live(cid) if live is not None else None
    s = session(request)
    ctx = _base(request, s=snap, commands=COMMANDS, may_control=roles.allowed("campaign.control", s.role))
    return aiohttp_jinja2.render_template("campaign.html", request, ctx)


async def events(request: web.Request) -> web.StreamResponse:
    cid = campaign_id(request)
    return await request.app[MONITOR].stream(request, cid)
