"""Calls an agent dials go to that agent, on the real stack: two agents on the line (the carrier
simulator's agent phones), the other one ready longer; the previewing agent presses Dial and the debtor
is bridged to them, not to the other. The agent books a callback "for me" in the same conversation;
it waits in their "My callbacks", the campaign never hands it to anyone else, and when it is due the
agent dials it: the gate lets it through although the US 7-day lockout after a conversation would
block any other call (the debtor asked for it: Reg F 1006.14(b)(3)(i)), the audit trail says so, and
the debtor is bridged to the same agent again."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from helpers_desk import campaign, seed
from helpers_wait import eventually

from dunline.controller.app import Controller
from dunline.controller.cli_web import attach_desk
from dunline.controller.host import CampaignHost
from dunline.store.users import add_user
from dunline.web.app import build_app
from dunline.web.passwords import hash_password

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration
PASSWORD = "desk routing password"
DEBTOR = "+14155581907"  # answers, talks a moment to the agent, hangs up after 2 s
ANN_PHONE, BOB_PHONE = "+15550001006", "+15550001005"  # the carrier simulator's agent lines


async def _login(client: TestClient, name: str) -> dict[str, str]:
    page = await (await client.get("/login")).text()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = await client.post("/login", data={"csrf": csrf, "name": name, "password": PASSWORD})
    assert r.status == 200
    home = await (await client.get("/accounts")).text()
    return {"X-CSRF-Token": home.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]}


async def test_dialled_calls_and_own_callbacks_reach_the_agent_who_dialled(stack: Stack) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        now = rt.dialer.clock()
        await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE status IN ('running', 'paused')")
        acc = await seed(rt.pool, "DSK-R1", DEBTOR, "t_desk_route", "agent_call", now - timedelta(minutes=1))
        if await rt.pool.fetchval("SELECT count(*) FROM users WHERE name = 'rita'") == 0:
            await add_user(rt.pool, "rita", "agent", hash_password(PASSWORD), actor="test")
        host = CampaignHost(rt, poll_s=0.3, tick_s=0.3)
        desk = attach_desk(rt, host)
        app = build_app(stack.settings, rt.pool, clock=rt.dialer.clock, live=host.live, desk=desk)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        hosting = asyncio.create_task(host.run())
        cid = None
        try:
            await rt.agents.login("bob", BOB_PHONE)  # ready first: the pool's choice for anyone's call
            await asyncio.sleep(0.2)
            headers = await _login(client, "rita")
            r = await client.post("/desk/login", data={"phone": ANN_PHONE}, headers=headers)
            assert r.status == 200, await r.text()
            assert rt.agents.board.state("rita") == "ready"

            cid = await campaign(rt.pool, "desk routing", "preview", "t_desk_route")

            async def listed() -> bool:
                n = await rt.pool.fetchval(
                    "SELECT count(*) FROM campaign_members WHERE campaign_id = $1", cid
                )
                return cid in host.runners and n > 0

            await eventually("the preview campaign hosted with its account", listed, 30)
            r = await client.get(f"/desk/preview?campaign={cid}")
            assert r.status == 200 and "DSK-R1" in await r.text()
            r = await client.post("/desk/dial", headers=headers)
            assert r.status == 200, await r.text()

            screen = await eventually("rita's screen pop", lambda: _screen(desk, "rita"), 60)
            assert screen["account"] == "DSK-R1"
            assert rt.agents.board.state("bob") == "ready"  # bob, ready longer, was not given the call
            first = str(screen["attempt"])

            zone = ZoneInfo("America/Los_Angeles")
            at = (rt.dialer.clock() + timedelta(hours=2)).astimezone(zone).replace(tzinfo=None)
            r = await client.post(
                "/desk/disposition",
                data={"attempt": first, "outcome": "callback", "callback_for": "me",
                      "callback_at": at.isoformat(timespec="minutes")},
                headers=headers,
            )  # fmt: skip
            assert r.status == 200, await r.text()
            row = await rt.pool.fetchrow(
                "SELECT agent, asked_at, state FROM campaign_members"
                " WHERE campaign_id = $1 AND account_id = $2",
                cid,
                acc,
            )
            assert row["agent"] == "rita" and row["asked_at"] is not None and row["state"] == "queued"
            page = await (await client.get("/desk")).text()
            assert "My callbacks" in page and "DSK-R1" in page and "not due yet" in page
            await rt.agents.until("rita", "ready", 60)  # after the debtor hung up and the wrap-up
            form = {"campaign": str(cid), "account": str(acc)}
            r = await client.post("/desk/callback", data=form, headers=headers)
            assert r.status == 409 and "no callback of yours is due" in await r.text()

            # the callback falls due (moved, not waited for)
            await rt.pool.execute(
                "UPDATE campaign_members SET next_try_at = $3 WHERE campaign_id = $1 AND account_id = $2",
                cid,
                acc,
                rt.dialer.clock() - timedelta(minutes=1),
            )
            r = await client.post("/desk/callback", data=form, headers=headers)
            assert r.status == 200, await r.text()

            async def second_pop() -> dict[str, Any] | None:
                s = await _screen(desk, "rita")
                return s if s and str(s["attempt"]) != first else None

            screen = await eventually("rita's second screen pop", second_pop, 60)
            assert rt.agents.board.state("bob") == "ready"
            verdict = await rt.pool.fetchrow(
                "SELECT allowed, reasons FROM verdicts WHERE attempt_id = $1::uuid", str(screen["attempt"])
            )
            reasons = (
                verdict["reasons"] if isinstance(verdict["reasons"], list) else json.loads(verdict["reasons"])
            )
            assert verdict["allowed"] and any(r.startswith("lockout-7: set aside") for r in reasons), reasons
            audit = [
                r["action"] for r in await rt.pool.fetch("SELECT action FROM audit_log WHERE actor = 'rita'")
            ]
            assert "agent.dial" in audit and "agent.callback" in audit
        finally:
            if cid is not None:
                await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE id = $1", cid)
            hosting.cancel()
            await asyncio.gather(hosting, return_exceptions=True)
            for agent in ("rita", "bob"):
                if rt.agents.board.state(agent) != "offline":
                    await rt.agents.logout(agent)
            await client.close()


async def _screen(desk: Any, agent: str) -> dict[str, Any] | None:
    return desk.seat(agent).screen  # type: ignore[no-any-return]
