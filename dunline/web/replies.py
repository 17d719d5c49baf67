"""The console's reply queue and the evidence bundle button.

`/replies`: text replies nobody can act on automatically (unclear ones, and clear ones a person must
act on: set a plan up, call back), oldest first, the number masked; "Done" marks one handled, with
the user, in the audit log. `/accounts/{ref}/evidence`: the account's evidence bundle as a download
(BagIt zip), built on the controller's machine; the download is audited.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from dunline.compliance.model import mask_number
from dunline.store.attempts import audit
from dunline.web.context import services, session


def _base(request: web.Request, **extra: Any) -> dict[str, Any]:
    from dunline.web.views import _base as base

    return base(request, **extra)


async def queue(request: web.Request) -> web.StreamResponse:
    rows = await services(request).pool.fetch(
        "SELECT i.id, i.received_at, i.number_e164, i.body, i.intent, i.detail, a.account_ref"
        " FROM sms_inbound i LEFT JOIN accounts a ON a.id = i.account_id"
        " WHERE i.needs_person AND i.handled_at IS NULL ORDER BY i.received_at, i.id LIMIT 500"
    )
    items = [
        {**dict(r), "number": mask_number(r["number_e164"]), "outcome": (r["detail"] or {}).get("outcome")}
        for r in rows
    ]
    return aiohttp_jinja2.render_template("replies.html", request, _base(request, items=items))


async def handled(request: web.Request) -> web.StreamResponse:
    try:
        rid = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPBadRequest(text="id: not a reply number") from None
    s = session(request)
    async with services(request).pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE sms_inbound SET handled_by = $2, handled_at = now() WHERE id = $1 AND handled_at IS NULL"
            " RETURNING account_id, intent",
            rid,
            s.user_name,
        )
        if row is None:
            raise web.HTTPNotFound(text=f"no reply {rid} waiting")
        subject = f"account:{row['account_id']}" if row["account_id"] else f"reply:{rid}"
        await audit(conn, s.user_name, "reply.handled", subject, {"reply": rid, "intent": row["intent"]})
    raise web.HTTPSeeOther("/replies")


async def evidence(request: web.Request) -> web.StreamResponse:
    from dunline.channels.evidence import EvidenceError, build, gather
    from dunline.controller.asterisk import recordings_dir

    ref = request.match_info["ref"]
    svc = services(request)
    settings = svc.settings
    async with svc.pool.acquire() as conn:
        try:
            case = await gather(conn, ref, await asyncio.to_thread(recordings_dir, settings))
        except EvidenceError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        await audit(conn, session(request).user_name, "evidence.download", f"account:{case.account_id}", {})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"evidence-{ref}.zip"
        await asyncio.to_thread(build, case, out, settings)
        data = out.read_bytes()
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="evidence-{ref}.zip"'},
    )
