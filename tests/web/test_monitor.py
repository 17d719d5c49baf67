"""The campaign pages and the live monitor over SSE, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

from aiohttp import ClientResponse
from web_stack import Console


async def seed_campaign(console: Console) -> int:
    cid: int = await console.pool.fetchval(
        "INSERT INTO campaigns (name, mode, status, spec) VALUES ('Dec reminders', 'ivr', 'created',"
        " '{\"abandon_target\": 0.03}') RETURNING id"
    )
    return cid


async def add_attempt(
    console: Console, cid: int, state: str, *, human: bool = False, outcome: str | None = None
) -> None:
    row = await console.pool.fetchrow(
        "SELECT a.id AS account, p.id AS phone, p.number_e164 FROM accounts a"
        " JOIN phones p ON p.debtor_id = a.debtor_id"
        " ORDER BY random() LIMIT 1"
    )
    assert row is not None
    aid = uuid.uuid4()
    at = console.clock() - timedelta(minutes=5)
    await console.pool.execute(
        "INSERT INTO attempts"
        " (id, campaign_id, account_id, phone_id, number_e164, state, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        aid,
        cid,
        row["account"],
        row["phone"],
        row["number_e164"],
        state,
        at,
    )
    if human:
        await console.pool.execute(
            "INSERT INTO attempt_transitions (attempt_id, seq, from_state, to_state, at)"
            " VALUES ($1, 1, 'answered', 'human', $2)",
            aid,
            at,
        )
    if outcome:
        await console.pool.execute(
            "INSERT INTO outcomes (attempt_id, account_id, outcome, at) VALUES ($1, $2, $3, $4)",
            aid,
            row["account"],
            outcome,
            at,
        )


async def next_event(r: ClientResponse, name: str, within: float = 5.0) -> str:
    """The data of the next SSE event called `name`."""
    event, data = None, []
    async with asyncio.timeout(within):
        while True:
            line = (await r.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "":
                if event == name:
                    return "\n".join(data)
                event, data = None, []


async def test_monitor_pushes_fresh_numbers_every_second(console: Console) -> None:
    cid = await seed_campaign(console)
    await add_attempt(console, cid, "completed", human=True, outcome="promise_to_pay")
    await add_attempt(console, cid, "abandoned", human=True)
    await console.login("supervisor")
    page = await console.client.get(f"/campaigns/{cid}")
    assert page.status == 200
    text = await page.text()
    assert 'sse-connect="/campaigns/' in text and "Dec reminders" in text
    r = await console.client.get(f"/campaigns/{cid}/events")
    assert r.headers["Content-Type"].startswith("text/event-stream")
    first: dict[str, Any] = json.loads(await next_event(r, "metrics"))
    assert first["today"] == {"placed": 2, "answered": 2, "abandoned": 1}
    assert first["abandon_rate"]["today"] == 0.5  # one of two answered humans: far over the cap
    assert first["outcomes"] == {"promise_to_pay": 1}
    panel = await next_event(r, "panel")
    assert 'class="over"' in panel  # the rate is shown red
    await add_attempt(console, cid, "ringing")
    console.clock.advance(seconds=1)
    # the event in flight may predate the insert; one computed after it must follow (how fresh the
    # events are is measured by bench/monitor.py, not timed here)
    for _ in range(5):
        later = json.loads(await next_event(r, "metrics", within=3.0))
        if later["calls"]["ringing"] == first["calls"]["ringing"] + 1:
            break
    else:
        raise AssertionError("the new ringing call never reached the monitor")
    assert later["at"] > first["at"]
    r.close()


async def test_create_and_control_a_campaign_from_the_page(console: Console) -> None:
    csrf = await console.login("supervisor")
    r = await console.client.post(
        "/campaigns",
        data={"csrf": csrf, "name": "From the page", "mode": "predictive", "tiers": "high, medium"},
        allow_redirects=False,
    )
    assert r.status == 303
    cid = int(r.headers["Location"].rsplit("/", 1)[1])
    spec = await console.pool.fetchval("SELECT spec FROM campaigns WHERE id = $1", cid)
    assert spec["mode"] == "predictive" and spec["tiers"] == ["high", "medium"]
    h = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    assert (await console.client.post(f"/campaigns/{cid}/start", headers=h)).status == 200
    assert (await console.client.post(f"/campaigns/{cid}/pause", headers=h)).status == 200
    again = await console.client.post(f"/campaigns/{cid}/pause", headers=h)
    assert again.status == 409 and "paused" in await again.text()
    assert await console.pool.fetchval("SELECT status FROM campaigns WHERE id = $1", cid) == "paused"
    actions = await console.pool.fetch(
        "SELECT actor, action FROM audit_log WHERE subject = $1 ORDER BY id", f"campaign:{cid}"
    )
    assert [(a["actor"], a["action"]) for a in actions] == [
        ("supervisor", "campaign.create"),
        ("supervisor", "campaign.start"),
        ("supervisor", "campaign.pause"),
    ]


async def test_bad_campaign_form_names_the_field(console: Console) -> None:
    csrf = await console.login("admin")
    r = await console.client.post("/campaigns", data={"csrf": csrf, "name": "x", "mode": "robocall"})
    assert r.status == 400 and "mode" in await r.text()
    r = await console.client.post(
        "/campaigns", data={"csrf": csrf, "name": "x", "mode": "ivr", "stages": "soon"}
    )
    assert r.status == 400 and "stages" in (await r.text()).lower()
    assert await console.pool.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_abandon_report_shows_every_window_against_the_cap(console: Console) -> None:
    cid = await seed_campaign(console)
    for _ in range(3):
        await add_attempt(console, cid, "completed", human=True)
    await add_attempt(console, cid, "abandoned", human=True)
    await console.login("compliance")
    text = await (await console.client.get("/compliance/abandon")).text()
    assert "Dec reminders" in text
    assert text.count('class="num over">25.00%') == 3  # today, first hour and 30 days: 1 of 4 answered
    assert "4 / 1" in text
