"""The trunk pages against the real PBX: the live state read over AMI and the control socket, and trunk
changes applied to the running PBX (pjsip.conf re-rendered, PJSIP reloaded) while a call is up on the
trunk: the call carries on through an edit, an add and a disable. A test call over the trunk answers
with the carrier's real result, and a debtor's number is refused."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from helpers_browser import ARGS, CHROMIUM, DOCS, serving
from helpers_desk import seed
from helpers_wait import eventually

from dunline.config.schema import TrunkSettings
from dunline.controller.app import Controller, Runtime, run_campaign
from dunline.controller.trunk_admin import TrunkAdmin
from dunline.store import trunks as store
from dunline.store.accounts import list_dialable
from dunline.store.users import add_user
from dunline.web.app import build_app
from dunline.web.passwords import hash_password
from dunline.web.trunks import live_status

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration
AGENT_PHONE = "+15550001009"  # the carrier's "agent" kind: answers and stays on the line, silent
BUSY_LINE = "+14155550190"  # a carrier test line that is always busy (no account has it)
SHOT = DOCS / "trunks.png"
POOL_DEBTOR = "+14155550191"  # a debtor on another busy test line (the caller ID pool's call)


async def _channels(rt: Runtime) -> list[str]:
    return [c.get("Channel", "") for c in await rt.ami.action_list("CoreShowChannels")]


async def _login(client: TestClient, name: str, password: str) -> str:
    page = await (await client.get("/login")).text()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = await client.post("/login", data={"csrf": csrf, "name": name, "password": password})
    assert r.status == 200
    home = await (await client.get("/accounts")).text()
    return home.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]


async def test_trunk_status_from_the_pbx(stack: Stack) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        admin = TrunkAdmin(rt)
        read = live_status(rt.ami, admin.contacts)
        status = await read(stack.settings.trunks)
        carrier = status[stack.settings.trunk.name]
        assert carrier["registration"] == "Registered", json.dumps(status)
        assert carrier["channels"] == 0
        assert carrier["contact"] == "off"  # qualify is off on the shipped trunk

        if await rt.pool.fetchval("SELECT count(*) FROM users WHERE name = 'ops'") == 0:
            await add_user(rt.pool, "ops", "admin", hash_password("trunk page password"), actor="test")
        app = build_app(stack.settings, rt.pool, clock=rt.dialer.clock, trunk_status=read)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            await _login(client, "ops", "trunk page password")
            text = await (await client.get("/trunks")).text()
            assert ">Registered<" in text
            secret = stack.settings.trunk.password
            assert secret is not None and secret.get_secret_value() not in text
        finally:
            await client.close()


async def test_changes_reach_the_running_pbx_without_dropping_the_call_up(stack: Stack) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        admin = TrunkAdmin(rt)
        try:
            await _changes(stack, rt, admin)
        finally:  # the next tests get the PBX of the settings back
            await rt.pool.execute("DELETE FROM trunks")
            await store.seed(rt.pool, stack.settings.trunks)
            await admin.apply()
            await eventually("carrier registered again", lambda: _registered(rt, "carrier"))


async def _registration(rt: Runtime, name: str) -> str | None:
    regs = await rt.ami.action_list("PJSIPShowRegistrationsOutbound")
    return next((r.get("Status") for r in regs if r.get("ObjectName") == f"{name}-reg"), None)


async def _registered(rt: Runtime, name: str) -> bool:
    return await _registration(rt, name) == "Registered"


async def _changes(stack: Stack, rt: Runtime, admin: TrunkAdmin) -> None:
    await admin.start()
    held = await admin.test_call("carrier", AGENT_PHONE, hold_s=90)
    assert held.result == "answered", held
    chans = [c for c in await _channels(rt) if c.startswith("PJSIP/carrier-")]
    assert len(chans) == 1, chans
    call = chans[0]

    # 1. edit the trunk the call is on: qualify on, another channel limit, caller ID and a pool
    carrier = (await store.load(rt.pool))[0].trunk
    edited = carrier.model_copy(
        update={
            "qualify_s": 2,
            "max_channels": 25,
            "caller_id": "+14155550142",
            "caller_id_pool": ("+12125550100", "+14155550143"),
            "password": None,
        }
    )
    changed = await store.save(rt.pool, edited, enabled=True, actor="test", new=False)
    assert changed == ["caller_id", "caller_id_pool", "max_channels", "qualify_s"]
    took = (await admin.apply())["took_ms"]
    assert call in await _channels(rt), "the call was dropped by the edit"
    contacts = await eventually(
        "the far end qualified",
        lambda: _contact_status(admin, "carrier", "Avail"),
    )
    assert contacts["RoundtripMs"] is not None and contacts["RoundtripMs"] > 0
    # the dialer's next call follows at once: it shows the pool's number nearest the debtor's (415)
    await seed(rt.pool, "TRK-1", POOL_DEBTOR, "t_trunk_pool", "ivr_call", rt.dialer.clock())
    accounts = [a for a in await list_dialable(rt.pool, 5000) if a.phone_e164 == POOL_DEBTOR]
    (placed,) = await run_campaign(rt, "caller id pool", accounts)
    assert placed.attempt_id is not None, placed
    shown = await rt.pool.fetchval(
        "SELECT detail->>'caller_id' FROM attempt_transitions WHERE attempt_id = $1::uuid"
        " AND to_state = 'dialing'",
        placed.attempt_id,
    )
    assert shown == "+14155550143"
    assert call in await _channels(rt)

    # 2. add a trunk with a password the carrier does not know: its registration is rejected
    backup = TrunkSettings.model_validate(
        {**carrier.model_dump(), "name": "backup", "password": "not-the-password"}
    )
    await store.save(rt.pool, backup, enabled=True, actor="test", new=True)
    await admin.apply()
    await eventually("backup's registration refused", lambda: _rejected(rt, "backup"))
    assert await _registered(rt, "carrier")
    assert call in await _channels(rt), "the call was dropped by the add"

    # 3. disable it: its registration is gone from the PBX, the call still up
    await store.save(
        rt.pool, backup.model_copy(update={"password": None}), enabled=False, actor="test", new=False
    )
    await admin.apply()
    await eventually("backup's registration removed", lambda: _gone(rt, "backup"))
    assert call in await _channels(rt), "the call was dropped by the disable"

    # the page: the live state of each trunk; a test call shows the carrier's answer; a debtor refused
    await _page_checks(stack, rt, admin)
    await rt.ami.action("Hangup", {"Channel": call})
    print(json.dumps({"apply_ms": took}))


async def _contact_status(admin: TrunkAdmin, aor: str, status: str) -> dict[str, Any] | None:
    return next((c for c in await admin.contacts() if c["Aor"] == aor and c["Status"] == status), None)


async def _rejected(rt: Runtime, name: str) -> bool:
    return await _registration(rt, name) == "Rejected"


async def _gone(rt: Runtime, name: str) -> bool:
    return await _registration(rt, name) is None


async def _page_checks(stack: Stack, rt: Runtime, admin: TrunkAdmin) -> None:
    if await rt.pool.fetchval("SELECT count(*) FROM users WHERE name = 'ops'") == 0:
        await add_user(rt.pool, "ops", "admin", hash_password("trunk page password"), actor="test")
    read = live_status(rt.ami, admin.contacts)
    app = build_app(stack.settings, rt.pool, clock=rt.dialer.clock, trunk_status=read, trunk_pbx=admin)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        csrf = await _login(client, "ops", "trunk page password")
        text = await (await client.get("/trunks")).text()
        assert "Avail" in text and "backup</a> (disabled)" in text
        r = await client.post("/trunks/carrier/test", data={"csrf": csrf, "number": BUSY_LINE})
        page = await r.text()
        assert r.status == 200, page
        said = page.split('id="test-result">', 1)[-1].split("</p>", 1)[0]
        assert "<strong>busy</strong>" in said, said  # the carrier's answer
        debtor = await rt.pool.fetchval("SELECT number_e164 FROM phones LIMIT 1")
        if debtor is not None:
            r = await client.post("/trunks/carrier/test", data={"csrf": csrf, "number": debtor})
            assert r.status == 409 and "belongs to an account" in await r.text()
        last = await rt.pool.fetchrow(
            "SELECT actor, detail FROM audit_log WHERE action = 'trunk.test_call' ORDER BY id DESC LIMIT 1"
        )
        assert last["actor"] == "ops" and last["detail"]["result"] == "busy"
    finally:
        await client.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser tests need it")
async def test_trunk_page_in_the_browser(stack: Stack) -> None:
    """The telecom admin's view in Debian's Chromium: the carrier registered, calls up, and a test call
    from the page with the carrier's answer. Writes docs/console/trunks.png."""
    async_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        admin = TrunkAdmin(rt)
        await admin.start()
        if await rt.pool.fetchval("SELECT count(*) FROM users WHERE name = 'ops'") == 0:
            await add_user(rt.pool, "ops", "admin", hash_password("trunk page password"), actor="test")
        read = live_status(rt.ami, admin.contacts)
        app = build_app(stack.settings, rt.pool, clock=rt.dialer.clock, trunk_status=read, trunk_pbx=admin)
        expect = async_api.expect
        async with serving(app) as base, async_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            await page.goto(base + "/login?next=/trunks")
            await page.fill("#name", "ops")
            await page.fill("#password", "trunk page password")
            await page.click("form.card button[type=submit]")
            await page.wait_for_url(f"{base}/trunks")
            row = page.locator("#trunks tbody tr").filter(has_text="carrier")
            await expect(row).to_contain_text("Registered")
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOT), full_page=True)
            await page.click("text=carrier")
            await page.fill("#tc-number", BUSY_LINE)
            await page.click("text=Place test call")
            await expect(page.locator("#test-result")).to_contain_text("busy", timeout=30_000)
            await browser.close()
