"""The telecom admin's trunk page: every trunk of the settings with its live state on the PBX
(registration, the far end's reachability when qualify is on, calls up on it now), read over AMI by
the controller in this process. Secrets are never shown.

`live_status(ami, trunks)` turns three AMI event lists into one row per trunk; `summarise` is the
pure part (tested on recorded events)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from dunline.config.schema import TrunkSettings
from dunline.web.context import services
from dunline.web.views import _base

Status = Callable[[], Awaitable[dict[str, dict[str, Any]]]]
STATUS: web.AppKey[Status] = web.AppKey("trunk_status")


def summarise(
    trunks: Iterable[TrunkSettings],
    registrations: Iterable[Mapping[str, str]],
    contacts: Iterable[Mapping[str, str]],
    channels: Iterable[Mapping[str, str]],
) -> dict[str, dict[str, Any]]:
    regs = {r.get("ObjectName", ""): r for r in registrations}
    out: dict[str, dict[str, Any]] = {}
    chans = [c.get("Channel", "") for c in channels]
    contact_list = list(contacts)
    for t in trunks:
        reg = regs.get(f"{t.name}-reg")
        contact = next(
            (c for c in contact_list if c.get("Aor") == t.name or c.get("Endpoint") == t.name), None
        )
        rtt = contact.get("RoundtripUsec") if contact else None
        out[t.name] = {
            "registration": (reg.get("Status") or "?")
            if reg
            else ("off" if not t.registration else "missing"),
            "contact": (contact.get("Status") or "?") if contact else "-",
            "rtt_ms": round(int(rtt) / 1000, 1) if rtt and rtt.isdigit() and int(rtt) > 0 else None,
            "channels": sum(1 for c in chans if c.startswith(f"PJSIP/{t.name}-")),
        }
    return out


def live_status(ami: Any, trunks: tuple[TrunkSettings, ...]) -> Status:
    async def read() -> dict[str, dict[str, Any]]:
        # PJSIPShowContacts needs the AMI `system` write class, which the dialer's user does not get
        # (least rights): the far end's state comes with qualify, off on the shipped trunks
        regs = await ami.action_list("PJSIPShowRegistrationsOutbound")
        chans = await ami.action_list("CoreShowChannels")
        return summarise(trunks, regs, [], chans)

    return read


async def page(request: web.Request) -> web.StreamResponse:
    settings = services(request).settings
    reader = request.app.get(STATUS)
    live: dict[str, dict[str, Any]] = {}
    error = None
    if reader is None:
        error = "This console runs without a controller: the live state is shown by `dunline serve`."
    else:
        try:
            live = await reader()
        except Exception as exc:  # the PBX is down or slow: the page still lists the trunks
            error = f"The PBX did not answer: {type(exc).__name__}: {exc}"
    rows = [
        {
            "name": t.name,
            "where": f"{t.transport}://{t.host}:{t.port}",
            "username": t.username,
            "codecs": ", ".join(t.codecs),
            "max_channels": t.max_channels,
            "cps": t.calls_per_second,
            "caller_id": t.caller_id,
            "registration": t.registration,
            "live": live.get(t.name),
        }
        for t in settings.trunks
    ]
    return aiohttp_jinja2.render_template("trunks.html", request, _base(request, trunks=rows, error=error))
