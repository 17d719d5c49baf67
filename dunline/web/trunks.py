"""The telecom admin's trunk pages: every stored trunk with its live state on the PBX (registration,
the far end's qualify state, calls up on it now), add, edit and disable a trunk, a test call.

The trunks live in the `trunks` table (the settings seed it once, `store/trunks.py`). A change is saved
(validated by the same `TrunkSettings` model as the settings file, all or nothing), then applied to the
running PBX by the controller in this process (`controller/trunk_admin.py`: pjsip.conf re-rendered,
PJSIP reloaded, calls in progress kept). A console without a controller saves the change; the next
`dunline serve` applies it. Secrets are never shown: the password field is empty and a blank password
keeps the stored one.

`summarise` is the pure part of the live state (tested on recorded events).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp_jinja2
import phonenumbers
from aiohttp import web
from pydantic import ValidationError

from dunline.config.schema import TrunkSettings
from dunline.store import trunks as store
from dunline.store.attempts import audit
from dunline.web.context import services, session
from dunline.web.views import _base, bad_input

Status = Callable[[tuple[TrunkSettings, ...]], Awaitable[dict[str, dict[str, Any]]]]
STATUS: web.AppKey[Status] = web.AppKey("trunk_status")


class Pbx(Protocol):
    """What the controller in this process offers the page (`controller.trunk_admin.TrunkAdmin`)."""

    async def apply(self) -> dict[str, Any]: ...
    async def contacts(self) -> list[dict[str, Any]]: ...
    async def test_call(self, trunk: str, number: str) -> Any: ...


PBX: web.AppKey[Pbx] = web.AppKey("trunk_pbx")
FIELDS = ("name", "host", "port", "transport", "username", "password", "from_user", "caller_id")
NUMBERS = ("max_channels", "calls_per_second", "qualify_s")


def summarise(
    trunks: Iterable[TrunkSettings],
    registrations: Iterable[Mapping[str, str]],
    contacts: Iterable[Mapping[str, Any]],
    channels: Iterable[Mapping[str, str]],
) -> dict[str, dict[str, Any]]:
    regs = {r.get("ObjectName", ""): r for r in registrations}
    out: dict[str, dict[str, Any]] = {}
    chans = [c.get("Channel", "") for c in channels]
    contact_list = list(contacts)
    for t in trunks:
        reg = regs.get(f"{t.name}-reg")
        contact = next((c for c in contact_list if c.get("Aor") == t.name), None)
        rtt = contact.get("RoundtripMs") if contact else None
        out[t.name] = {
            "registration": (reg.get("Status") or "?")
            if reg
            else ("off" if not t.registration else "missing"),
            "contact": (contact.get("Status") or "?") if contact and t.qualify_s else "off",
            "rtt_ms": round(float(rtt), 1) if isinstance(rtt, float) and rtt > 0 else None,
            "channels": sum(1 for c in chans if c.startswith(f"PJSIP/{t.name}-")),
        }
    return out


def live_status(ami: Any, contacts: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None) -> Status:
    """Registrations and channels over the dialer's AMI user; the far ends' qualify state from
    `contacts` (the PBX's control socket: PJSIPShowContacts needs the AMI `system` write class, which
    the dialer's least-rights user does not get)."""

    async def read(trunks: tuple[TrunkSettings, ...]) -> dict[str, dict[str, Any]]:
        regs = await ami.action_list("PJSIPShowRegistrationsOutbound")
        chans = await ami.action_list("CoreShowChannels")
        found = await contacts() if contacts is not None else []
        return summarise(trunks, regs, found, chans)

    return read


def _row(s: store.Stored, live: dict[str, Any] | None) -> dict[str, Any]:
    t = s.trunk
    return {
        "name": t.name,
        "where": f"{t.transport}://{t.host}:{t.port}",
        "username": t.username,
        "codecs": ", ".join(t.codecs),
        "max_channels": t.max_channels,
        "cps": t.calls_per_second,
        "qualify_s": t.qualify_s,
        "caller_id": t.caller_id,
        "pool": len(t.caller_id_pool),
        "registration": t.registration,
        "enabled": s.enabled,
        "updated": s.updated_at,
        "updated_by": s.updated_by,
        "live": live,
    }


async def page(request: web.Request, *, notice: str | None = None, status: int = 200) -> web.StreamResponse:
    svc = services(request)
    await store.seed(svc.pool, svc.settings.trunks)
    stored = await store.load(svc.pool)
    reader = request.app.get(STATUS)
    live: dict[str, dict[str, Any]] = {}
    error = None
    if reader is None:
        error = "This console runs without a controller: the live state is shown by `dunline serve`."
    else:
        try:
            live = await reader(store.enabled(stored))
        except Exception as exc:  # the PBX is down or slow: the page still lists the trunks
            error = f"The PBX did not answer: {type(exc).__name__}: {exc}"
    rows = [_row(s, live.get(s.trunk.name) if s.enabled else None) for s in stored]
    ctx = _base(request, trunks=rows, error=error, notice=notice, blank=_blank())
    response = aiohttp_jinja2.render_template("trunks.html", request, ctx)
    response.set_status(status)
    return response


def _blank() -> dict[str, Any]:
    """The add form: the model's defaults for the technical fields, nothing for the identity fields."""
    blank = {"name": "", "host": "", "username": "", "from_user": "", "caller_id": "", "port": 5060}
    return {**_form_values(TrunkSettings()), **blank}


def _form_values(t: TrunkSettings, enabled: bool = True) -> dict[str, Any]:
    doc = t.model_dump(mode="json", exclude={"password"})
    return {
        **doc,
        "enabled": enabled,
        "codecs": list(t.codecs),
        "caller_id_pool": "\n".join(t.caller_id_pool),
    }


async def _stored(request: web.Request, name: str) -> store.Stored:
    found = next((s for s in await store.load(services(request).pool) if s.trunk.name == name), None)
    if found is None:
        raise web.HTTPNotFound(text=f"no trunk {name!r}")
    return found


async def edit_page(request: web.Request) -> web.StreamResponse:
    s = await _stored(request, request.match_info["name"])
    ctx = _base(request, t=_form_values(s.trunk, s.enabled), test_result=None, has_pbx=PBX in request.app)
    return aiohttp_jinja2.render_template("trunk.html", request, ctx)


def parse_form(
    data: Mapping[str, Any], codecs: list[str], *, name: str | None = None
) -> tuple[TrunkSettings, bool]:
    """A trunk from the posted form (same model as the settings file); HTTP 400 names each bad field."""
    doc: dict[str, Any] = {
        k: data[k].strip() for k in FIELDS if isinstance(data.get(k), str) and data[k].strip()
    }
    doc.update({k: data[k] for k in NUMBERS if data.get(k)})
    if name is not None:
        doc["name"] = name
    doc["codecs"] = codecs
    pool = re.split(r"[\n,;]+", str(data.get("caller_id_pool") or ""))  # one per line, or commas
    doc["caller_id_pool"] = [n.strip() for n in pool if n.strip()]
    doc["registration"] = data.get("registration") == "on"
    doc.setdefault("from_user", doc.get("username", ""))
    try:
        return TrunkSettings.model_validate(doc), data.get("enabled") == "on"
    except ValidationError as exc:
        raise bad_input(exc) from None


async def _save(request: web.Request, *, new: bool) -> web.StreamResponse:
    data = await request.post()
    trunk, enabled = parse_form(
        data, [str(c) for c in data.getall("codecs", [])], name=None if new else request.match_info["name"]
    )
    svc = services(request)
    try:
        changed = await store.save(
            svc.pool, trunk, enabled=enabled, actor=session(request).user_name, new=new
        )
    except store.TrunkError as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    if not changed:
        return await page(request, notice=f"Trunk {trunk.name}: nothing changed.")
    what = f"Trunk {trunk.name} saved ({', '.join(changed)})"
    pbx = request.app.get(PBX)
    if pbx is None:
        return await page(request, notice=f"{what}; the next `dunline serve` applies it to the PBX.")
    try:
        applied = await pbx.apply()
    except Exception as exc:  # the PBX refused or is down: the change is stored, say it is not live
        return await page(request, notice=f"{what}, but the PBX did not take it: {exc}", status=502)
    return await page(request, notice=f"{what} and applied to the PBX in {applied['took_ms']} ms.")


async def add(request: web.Request) -> web.StreamResponse:
    return await _save(request, new=True)


async def edit(request: web.Request) -> web.StreamResponse:
    return await _save(request, new=False)


async def test_call(request: web.Request) -> web.StreamResponse:
    s = await _stored(request, request.match_info["name"])
    data = await request.post()
    number = str(data.get("number", "")).strip()
    try:
        parsed = phonenumbers.parse(number, None)
        if not phonenumbers.is_valid_number(parsed):
            raise ValueError("not a valid phone number")
    except (phonenumbers.NumberParseException, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"number: an E.164 number (+ and digits) is needed: {exc}") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    pbx = request.app.get(PBX)
    if pbx is None:
        raise web.HTTPConflict(text="no controller in this process: test calls need `dunline serve`")
    if not s.enabled:
        raise web.HTTPConflict(text=f"trunk {s.trunk.name!r} is disabled: enable it to test it")
    pool = services(request).pool
    if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM phones WHERE number_e164 = $1)", e164):
        raise web.HTTPConflict(
            text="number: it belongs to an account; test calls go to your own test lines, never a debtor"
        )
    result = await pbx.test_call(s.trunk.name, e164)
    async with pool.acquire() as conn:
        await audit(
            conn,
            session(request).user_name,
            "trunk.test_call",
            f"trunk:{s.trunk.name}",
            {"result": result.result, "cause": result.cause, "took_ms": result.took_ms},
        )
    ctx = _base(request, t=_form_values(s.trunk, s.enabled), test_result=result, has_pbx=True, number=e164)
    return aiohttp_jinja2.render_template("trunk.html", request, ctx)
