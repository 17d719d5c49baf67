"""The agent desktop's routes (see desk.py). Every change is audited with the agent; a disposition
is stored through the same `record_outcome` as an IVR answer (outcome, flag, ledger, webhooks)."""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from pydantic import Field

from dunline.ari_handlers.agents import AgentError
from dunline.compliance.model import mask_number
from dunline.dialer.agents import AgentStateError
from dunline.dialer.clearance import preview as gate_preview
from dunline.store import campaigns as campaign_store
from dunline.store.attempts import audit, record_outcome
from dunline.web import disposition
from dunline.web.context import services, session
from dunline.web.desk import DESK, PAUSE_CODES, Desk, attempt_id, phone_endpoint
from dunline.web.views import _base, _parse, _Query

log = logging.getLogger("dunline.web.desk")


def _desk(request: web.Request) -> Desk:
    desk = request.app.get(DESK)
    if desk is None:
        raise web.HTTPConflict(
            text="this console runs without a controller: use the console of `dunline serve`"
        )
    return desk


async def _audit(request: web.Request, action: str, detail: dict[str, Any]) -> None:
    s = session(request)
    async with services(request).pool.acquire() as conn:
        await audit(conn, s.user_name, action, f"agent:{s.user_name}", detail)


def _done(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/plain")


async def page(request: web.Request) -> web.StreamResponse:
    desk = request.app.get(DESK)
    s = session(request)
    svc = services(request)
    async with svc.pool.acquire() as conn:
        campaigns = await conn.fetch(
            "SELECT id, name FROM campaigns WHERE mode = 'preview' AND status IN ('running', 'paused')"
            " ORDER BY id"
        )
        callbacks = await campaign_store.own_callbacks(conn, s.user_name)
    now = svc.clock()
    ctx = _base(
        request,
        available=desk is not None,
        st=desk.state(s.user_name) if desk else None,
        codes=PAUSE_CODES,
        previews=[dict(r.items()) for r in campaigns],
        callbacks=[{**c, "due": c["next_try_at"] <= now} for c in callbacks],
    )
    return aiohttp_jinja2.render_template("desk.html", request, ctx)


async def events(request: web.Request) -> web.StreamResponse:
    s = session(request)
    return await _desk(request).stream(request, s.user_name, s.csrf_token)


async def login(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    form = await request.post()
    try:
        endpoint = phone_endpoint(str(form.get("phone", "")))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    agent = session(request).user_name
    try:
        await desk.agents.login(agent, endpoint)
    except (AgentError, AgentStateError, TimeoutError) as exc:
        raise web.HTTPConflict(text=f"login failed: {exc}") from None
    await _audit(request, "agent.login", {"phone": mask_number(endpoint) if endpoint[0] == "+" else endpoint})
    return _done("Logged in: you are ready.")


async def logout(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    agent = session(request).user_name
    try:
        await desk.agents.logout(agent)
    except AgentError as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    await _audit(request, "agent.logout", {})
    return _done("Logged out: your phone was hung up.")


async def pause(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    code = str((await request.post()).get("code", ""))
    if code not in PAUSE_CODES:
        raise web.HTTPBadRequest(text=f"code: must be one of {', '.join(PAUSE_CODES)}")
    agent = session(request).user_name
    try:
        desk.agents.pause(agent)
    except AgentStateError as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    desk.seat(agent).pause_code = code
    await _audit(request, "agent.pause", {"code": code})
    return _done(f"Paused ({code}); a call in progress finishes first.")


async def ready(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    agent = session(request).user_name
    try:
        desk.agents.resume(agent)
    except AgentStateError as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    desk.seat(agent).pause_code = None
    await _audit(request, "agent.ready", {})
    return _done("Ready.")


async def _account_terms(request: web.Request, ref: str) -> tuple[Decimal, ZoneInfo]:
    row = await services(request).pool.fetchrow(
        "SELECT a.balance, d.timezone FROM accounts a JOIN debtors d ON d.id = a.debtor_id"
        " WHERE a.account_ref = $1",
        ref,
    )
    if row is None:
        raise web.HTTPNotFound(text=f"no account {ref!r}")
    try:
        zone = ZoneInfo(row["timezone"] or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return Decimal(row["balance"]), zone


async def save_disposition(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    agent = session(request).user_name
    form = {k: str(v) for k, v in (await request.post()).items()}
    screen = desk.seat(agent).screen
    if screen is None or str(screen.get("attempt")) != form.get("attempt"):
        raise web.HTTPConflict(text="attempt: not the call on your screen (it may be saved already)")
    try:
        aid = attempt_id(form["attempt"])
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    balance, zone = await _account_terms(request, str(screen["account"]))
    now = services(request).clock()
    try:
        decided = disposition.check(
            form, balance=balance, today=now.astimezone(zone).date(), now=now.astimezone(zone)
        )
    except disposition.DispositionError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    detail = {"by": "agent", "agent": agent, "node": "agent", "verified": True, "slots": decided.slots}
    await record_outcome(services(request).pool, aid, decided.outcome, detail, decided.flag)
    if decided.outcome == "callback":
        await _schedule_callback(
            request, aid, decided.slots["time"], agent if decided.slots["owner"] == "me" else None
        )
    await _audit(request, "agent.disposition", {"attempt": str(aid), "outcome": decided.outcome})
    desk.close_screen(agent)
    return _done(f"Saved: {decided.outcome.replace('_', ' ')}.")


async def _schedule_callback(request: web.Request, aid: Any, at: str, owner: str | None) -> None:
    """The campaign tries the account again at the callback time (the gate still decides then); a
    callback `owner` booked for themself waits in their "My callbacks" (store.campaigns.OWN_GRACE)."""
    await services(request).pool.execute(
        "UPDATE campaign_members m"
        " SET state = 'queued', next_try_at = $2, claimed_by = NULL, claimed_at = NULL, agent = $3,"
        " asked_at = $4"
        " FROM attempts a WHERE a.id = $1 AND m.campaign_id = a.campaign_id AND m.account_id = a.account_id",
        aid,
        datetime.fromisoformat(at),
        owner,
        services(request).clock(),
    )
    log.info("callback for attempt %s at %s (%s)", aid, at, owner or "anyone")


async def plan_calculator(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        balance = disposition._money(q.get("balance"), "balance")
        count = int(q.get("instalments") or "0")
        first = disposition._day(q.get("first_date"), "first_date")
    except (disposition.DispositionError, ValueError) as exc:
        return web.Response(text=f'<p class="error">{html.escape(str(exc))}</p>', content_type="text/html")
    if not 2 <= count <= disposition.MAX_INSTALMENTS:
        return web.Response(text=f'<p class="error">instalments: 2 to {disposition.MAX_INSTALMENTS}</p>',
                            content_type="text/html")  # fmt: skip
    rows = disposition.schedule(balance, count, first)
    return aiohttp_jinja2.render_template("desk_plan.html", request, {"rows": rows})


# ---- preview --------------------------------------------------------------------------------------------
async def preview(request: web.Request) -> web.StreamResponse:
    """The next account of a preview campaign, with what the gate would say about calling it now."""
    desk = _desk(request)
    agent = session(request).user_name
    try:
        cid = int(request.query.get("campaign", ""))
    except ValueError:
        raise web.HTTPBadRequest(text="campaign: a campaign id") from None
    runner = desk.host.runners.get(cid)
    if runner is None or runner.spec.mode != "preview":
        raise web.HTTPConflict(text=f"campaign: {cid} is not a preview campaign running on this controller")
    seat = desk.seat(agent)
    if seat.preview is None or seat.preview[0] != cid:
        member = await runner.preview_next()
        if member is None:
            return aiohttp_jinja2.render_template("desk_preview.html", request, {"empty": True, "cid": cid})
        seat.preview = (cid, member)
    member = seat.preview[1]
    target, verdict = await _gate_now(request, desk, runner, member)
    ref = await services(request).pool.fetchval(
        "SELECT account_ref FROM accounts WHERE id = $1", member.account_id
    )
    view = await _preview_view(request, str(ref))
    ctx = {"cid": cid, "empty": False, "a": view, "verdict": verdict, "no_number": target is None,
           "csrf": session(request).csrf_token}  # fmt: skip
    return aiohttp_jinja2.render_template("desk_preview.html", request, ctx)


async def _gate_now(request: web.Request, desk: Desk, runner: Any, member: Any) -> tuple[Any, Any]:
    """The member's dial target and what the gate would say about calling it now (None, None: no
    number left to call). Nothing is recorded."""
    target = await runner.target_for(member.account_id, member.template)
    if target is None:
        return None, None
    verdict = await gate_preview(
        services(request).pool,
        account_id=member.account_id,
        number=target.number,
        kind="agent",
        caller_id=desk.caller_id,
        at=services(request).clock(),
        asked_at=member.asked_at,
    )
    return target, verdict


async def _preview_view(request: web.Request, ref: str) -> dict[str, Any] | None:
    from dunline.store import console as console_store
    from dunline.web import debtor

    svc = services(request)
    found = await console_store.debtor_360(svc.pool, ref, now=svc.clock())
    return debtor.build(found, svc.clock(), unmasked=False) if found else None


async def dial(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    agent = session(request).user_name
    seat = desk.seat(agent)
    if seat.preview is None:
        raise web.HTTPConflict(text="no previewed account: open the next one first")
    cid, member = seat.preview
    runner = desk.host.runners.get(cid)
    if runner is None:
        raise web.HTTPConflict(text=f"campaign {cid} is no longer running here")
    _must_be_ready(desk, agent)
    seat.preview = None
    _start_call(desk, runner, member, agent)
    await _audit(request, "agent.dial", {"campaign": cid, "account": member.account_id})
    return _done("Dialling: the gate decides again at the moment of the call.")


def _must_be_ready(desk: Desk, agent: str) -> None:
    """A call an agent dials is connected to that agent only: they must be on the line and ready, or
    the debtor would answer to nobody (an abandoned call)."""
    state = desk.agents.board.state(agent)
    if state != "ready":
        raise web.HTTPConflict(text=f"your line is {state.replace('_', ' ')}: log in your phone and go ready")


def _start_call(desk: Desk, runner: Any, member: Any, agent: str) -> None:
    task = asyncio.get_running_loop().create_task(runner.preview_call(member, agent), name=f"dial-{agent}")
    desk.keep(task)


class CallbackForm(_Query):
    csrf: str | None = None
    campaign: int = Field(ge=1)
    account: int = Field(ge=1)


async def dial_callback(request: web.Request) -> web.StreamResponse:
    """The agent dials a callback they booked for themself (their "My callbacks")."""
    desk = _desk(request)
    agent = session(request).user_name
    form: CallbackForm = _parse(CallbackForm, await request.post())
    runner = desk.host.runners.get(form.campaign)
    if runner is None:
        raise web.HTTPConflict(text=f"campaign: {form.campaign} is not running on this controller")
    _must_be_ready(desk, agent)
    member = await runner.claim_callback(form.account, agent)
    if member is None:
        raise web.HTTPConflict(text="account: no callback of yours is due on it (not yet, or done already)")
    _target, verdict = await _gate_now(request, desk, runner, member)
    if verdict is None or not verdict.allowed:
        await runner.preview_skip(member)  # back in the queue, still yours
        why = "; ".join(verdict.reasons) if verdict else "no number left to call"
        when = (
            f" (next allowed {verdict.next_allowed_at:%Y-%m-%d %H:%M} UTC)"
            if verdict and verdict.next_allowed_at
            else ""
        )
        raise web.HTTPConflict(text=f"the gate blocks this call now: {why}{when}")
    _start_call(desk, runner, member, agent)
    await _audit(request, "agent.callback", {"campaign": form.campaign, "account": form.account})
    return _done("Dialling your callback: the gate decides again at the moment of the call.")


async def skip(request: web.Request) -> web.StreamResponse:
    desk = _desk(request)
    agent = session(request).user_name
    seat = desk.seat(agent)
    if seat.preview is None:
        raise web.HTTPConflict(text="no previewed account")
    cid, member = seat.preview
    runner = desk.host.runners.get(cid)
    seat.preview = None
    if runner is not None:
        await runner.preview_skip(member)
    await _audit(request, "agent.skip", {"campaign": cid, "account": member.account_id})
    return _done("Skipped: the account went back to the queue.")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/desk", page, name="desk")
    r.add_get("/desk/events", events, name="desk.events")
    r.add_post("/desk/login", login, name="desk.login")
    r.add_post("/desk/logout", logout, name="desk.logout")
    r.add_post("/desk/pause", pause, name="desk.pause")
    r.add_post("/desk/ready", ready, name="desk.ready")
    r.add_post("/desk/disposition", save_disposition, name="desk.disposition")
    r.add_get("/desk/plan", plan_calculator, name="desk.plan")
    r.add_get("/desk/preview", preview, name="desk.preview")
    r.add_post("/desk/dial", dial, name="desk.dial")
    r.add_post("/desk/callback", dial_callback, name="desk.callback")
    r.add_post("/desk/skip", skip, name="desk.skip")
