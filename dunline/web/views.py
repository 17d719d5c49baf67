"""The console's pages: the portfolio, the debtor 360, the compliance views, users.

Every handler validates its query or form with a pydantic model first: a bad value answers 400 with
the field named, and nothing is written. Every change is written to the audit log with the user.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dunline.compliance.model import mask_number
from dunline.compliance.profiles import HoldRule, default_profiles, summary
from dunline.store import console as store
from dunline.store import users
from dunline.store.attempts import audit
from dunline.store.contacts import account_actions, audit_trail, change_flag
from dunline.web import debtor, roles
from dunline.web.context import services, session


def bad_input(exc: ValidationError) -> web.HTTPBadRequest:
    problems = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]) or "input"
        problems.append(f"{where}: {e['msg']}")
    return web.HTTPBadRequest(text="; ".join(problems))


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate({k: v for k, v in dict(data).items() if v != ""})
    except ValidationError as exc:
        raise bad_input(exc) from None


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountQuery(_Query):
    q: str | None = Field(default=None, max_length=40)
    tier: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,20}$")
    stage: Literal["early", "mid", "late", "hardship", "hold", "stopped"] | None = None
    min_overdue: int | None = Field(default=None, ge=0, le=36500)
    max_overdue: int | None = Field(default=None, ge=0, le=36500)
    flag: str | None = Field(default=None, pattern=r"^[a-z][a-z_]{1,30}$")
    campaign: int | None = Field(default=None, ge=1)
    due: Literal["now", "today", "week"] | None = None
    page: int = Field(default=1, ge=1, le=100000)
    per_page: Literal[25, 50, 100] = 25

    @field_validator("q")
    @classmethod
    def _q(cls, v: str | None) -> str | None:
        if v is not None and not all(ch.isalnum() or ch in "-_+ ." for ch in v):
            raise ValueError(
                "may hold letters, digits and - _ + . only (a reference or the last digits of a number)"
            )
        return v


def _due_before(due: str | None, now: datetime) -> datetime | None:
    if due == "now":
        return now
    if due == "today":
        return datetime.combine(now.date(), time.max, tzinfo=UTC)
    if due == "week":
        return now + timedelta(days=7)
    return None


def _base(request: web.Request, **extra: Any) -> dict[str, Any]:
    s = session(request)
    nav = [
        (label, href)
        for label, href, route in (
            ("Accounts", "/accounts", "accounts"),
            ("Campaigns", "/campaigns", "campaigns"),
            ("Agent desktop", "/desk", "desk"),
            ("Replies", "/replies", "replies"),
            ("Compliance", "/compliance", "compliance.profiles"),
            ("Abandon report", "/compliance/abandon", "compliance.abandon"),
            ("Purge preview", "/compliance/purge", "compliance.purge"),
            ("Trunks", "/trunks", "trunks"),
            ("Users", "/users", "users"),
        )
        if roles.allowed(route, s.role)
    ]
    return {"user": s.user_name, "role": s.role, "csrf": s.csrf_token, "nav": nav, **extra}


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/accounts")


async def health(request: web.Request) -> web.StreamResponse:
    await services(request).pool.fetchval("SELECT 1")
    return web.json_response({"ok": True})


async def accounts(request: web.Request) -> web.StreamResponse:
    query: AccountQuery = _parse(AccountQuery, request.query)
    svc = services(request)
    now = svc.clock()
    f = store.AccountFilter(
        q=query.q,
        tier=query.tier,
        stage=query.stage,
        min_overdue=query.min_overdue,
        max_overdue=query.max_overdue,
        flag=query.flag,
        campaign=query.campaign,
        due_before=_due_before(query.due, now),
        page=query.page,
        per_page=query.per_page,
    )
    page = await store.list_accounts(svc.pool, f, today=now.date())
    for row in page.rows:
        row["name"] = debtor.mask_name(row.pop("full_name"))
    kept = {k: v for k, v in query.model_dump(exclude_defaults=True).items() if k != "page"}

    def link(n: int) -> str:
        return "/accounts?" + urlencode({**kept, "page": n})

    ctx = _base(
        request,
        page=page,
        query=query,
        prev_link=link(page.page - 1) if page.page > 1 else None,
        next_link=link(page.page + 1) if page.more else None,
        now=now,
    )
    if request.headers.get("HX-Request"):  # htmx swaps the rows only: the filters stay on the page
        return aiohttp_jinja2.render_template("accounts_rows.html", request, ctx)
    ctx["choices"] = await store.filter_choices(svc.pool)
    return aiohttp_jinja2.render_template("accounts.html", request, ctx)


async def debtor_view(request: web.Request, *, unmasked: bool) -> dict[str, Any]:
    """The debtor 360 of the path's `{ref}` as pages and the API show it; 404 naming the reference."""
    svc = services(request)
    ref = request.match_info["ref"]
    now = svc.clock()
    found = await store.debtor_360(svc.pool, ref, now=now)
    if found is None:
        raise web.HTTPNotFound(text=f"no account {ref!r}")
    return debtor.build(found, now, unmasked=unmasked)


async def account(request: web.Request) -> web.StreamResponse:
    view = await debtor_view(request, unmasked=False)
    s = session(request)
    ctx = _base(
        request,
        a=view,
        may_unmask=roles.may_unmask(s.role),
        may_hold=roles.allowed("account.hold", s.role),
        holds=hold_flags(),
        may_audit=roles.allowed("account.audit", s.role),
        may_evidence=roles.allowed("account.evidence", s.role),
    )
    return aiohttp_jinja2.render_template("account.html", request, ctx)


async def unmask(request: web.Request) -> web.StreamResponse:
    """The identity and numbers in full, for a role allowed to see them; the viewing is audited."""
    s = session(request)
    view = await debtor_view(request, unmasked=True)
    async with services(request).pool.acquire() as conn:
        await audit(conn, s.user_name, "account.unmask", f"account:{view['ref']}", {"role": s.role})
    return aiohttp_jinja2.render_template("identity.html", request, {"a": view})


@functools.cache
def hold_flags() -> tuple[str, ...]:
    return tuple(sorted({r.flag for p in default_profiles() for r in p.rules if isinstance(r, HoldRule)}))


class HoldForm(_Query):
    csrf: str | None = None
    flag: str
    action: Literal["set", "lift"]
    reason: str = Field(min_length=3, max_length=500)

    @field_validator("flag")
    @classmethod
    def _flag(cls, v: str) -> str:
        if v not in hold_flags():
            raise ValueError(f"must be one of {', '.join(hold_flags())}")
        return v

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must say why (it goes to the audit log)")
        return v.strip()


async def hold(request: web.Request) -> web.StreamResponse:
    form: HoldForm = _parse(HoldForm, await request.post())
    ref = request.match_info["ref"]
    s = session(request)
    flags = await change_flag(
        services(request).pool,
        ref,
        form.flag,
        lift=form.action == "lift",
        actor=s.user_name,
        reason=form.reason,
    )
    if flags is None:
        raise web.HTTPNotFound(text=f"no account {ref!r}")
    raise web.HTTPSeeOther(f"/accounts/{ref}#flags")


async def account_audit(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["ref"]
    trail = await audit_trail(services(request).pool, ref)
    if trail is None:
        raise web.HTTPNotFound(text=f"no account {ref!r}")
    for d in trail["decisions"]:
        d["number_e164"] = mask_number(d["number_e164"]) if d["number_e164"] else "-"
    actions = await account_actions(services(request).pool, ref)
    return aiohttp_jinja2.render_template("audit.html", request, _base(request, trail=trail, actions=actions))


async def compliance_profiles(request: web.Request) -> web.StreamResponse:
    profiles = summary(default_profiles())
    return aiohttp_jinja2.render_template("compliance.html", request, _base(request, profiles=profiles))


async def users_page(request: web.Request) -> web.StreamResponse:
    found = await users.list_users(services(request).pool)
    return aiohttp_jinja2.render_template("users.html", request, _base(request, users=found))


async def purge_preview(request: web.Request) -> web.StreamResponse:
    """What the retention purge would delete now (a dry run: nothing is deleted from here)."""
    from dunline.controller.retention import purge

    svc = services(request)
    doc = await purge(svc.pool, svc.clock(), dry_run=True)
    return aiohttp_jinja2.render_template("purge.html", request, _base(request, doc=doc))


async def abandon_report(request: web.Request) -> web.StreamResponse:
    """The abandon rate of every campaign with calls in the last 30 days, per window, against its cap."""
    from dunline.store import monitor

    svc = services(request)
    now = svc.clock()
    async with svc.pool.acquire() as conn:
        ids = await conn.fetch(
            "SELECT DISTINCT campaign_id FROM attempts WHERE campaign_id IS NOT NULL AND created_at >= $1"
            " ORDER BY campaign_id DESC LIMIT 200",
            now - timedelta(days=30),
        )
        rows = [await monitor.snapshot(conn, r["campaign_id"], now) for r in ids]
    report = [r for r in rows if r is not None]
    return aiohttp_jinja2.render_template("abandon.html", request, _base(request, report=report, now=now))
