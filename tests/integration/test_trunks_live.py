"""The trunk page's live state read from the real PBX over AMI: the carrier trunk is registered, and a
call up on it is counted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dunline.controller.app import Controller
from dunline.store.users import add_user
from dunline.web.app import build_app
from dunline.web.passwords import hash_password
from dunline.web.trunks import live_status

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration


async def test_trunk_status_from_the_pbx(stack: Stack) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        read = live_status(rt.ami, stack.settings.trunks)
        status = await read()
        carrier = status[stack.settings.trunk.name]
        assert carrier["registration"] == "Registered", json.dumps(status)
        assert carrier["channels"] == 0
        regs = await rt.ami.action_list("PJSIPShowRegistrationsOutbound")
        assert any(r.get("Event") == "OutboundRegistrationDetail" for r in regs)

        if await rt.pool.fetchval("SELECT count(*) FROM users WHERE name = 'ops'") == 0:
            await add_user(rt.pool, "ops", "admin", hash_password("trunk page password"), actor="test")
        app = build_app(stack.settings, rt.pool, clock=rt.dialer.clock, trunk_status=read)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            page = await (await client.get("/login")).text()
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = await client.post(
                "/login", data={"csrf": csrf, "name": "ops", "password": "trunk page password"}
            )
            assert r.status == 200
            text = await (await client.get("/trunks")).text()
            assert ">Registered<" in text
            assert "password" not in text.lower().replace("trunk page password", "")
        finally:
            await client.close()
