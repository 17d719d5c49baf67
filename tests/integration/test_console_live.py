"""The console on a real campaign: the controller (real PBX, carrier simulator, PostgreSQL) hosts the
campaign runner, a supervisor creates and starts the campaign from the page in Debian's Chromium, and
the live monitor follows the calls through the PBX over SSE. Writes docs/console/monitor.png (the
README's screenshot). Without /usr/bin/chromium the test is skipped, never passed."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from helpers_browser import ARGS, CHROMIUM, DOCS, serving

from dunline.controller.app import Controller
from dunline.controller.host import CampaignHost
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store.accounts import import_portfolio
from dunline.store.profiles import store_plans
from dunline.store.users import add_user
from dunline.web.app import build_app
from dunline.web.passwords import hash_password

if TYPE_CHECKING:
    from conftest import Stack

async_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser tests need it"),
]
SCREENSHOT = DOCS / "monitor.png"
PASSWORD = "live monitor password"
# numbers the carrier simulator answers as a person who says hello and hangs up after 3 s
NUMBERS = [f"+1415556{8800 + i:04d}" for i in range(6)]


async def seed(pool: Any, due: Any) -> None:
    docs = [
        {
            "id": f"LIV-{i}",
            "contact": {"country": "US", "region": "CA", "timezone": "America/Los_Angeles",
                        "phones": [{"number": n, "type": "mobile", "consent": True}]},
            "identity": {"name": f"Live Debtor {i}"},
            "loan": {"principal": "300.00", "due_date": "2026-10-01"},
        }
        for i, n in enumerate(NUMBERS)
    ]  # fmt: skip
    parsed = parse_accounts_json(json.dumps(docs))
    assert parsed.ok, parsed.errors
    await import_portfolio(pool, parsed.rows, upsert=True)
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM accounts WHERE account_ref LIKE 'LIV-%'")]
    step = {"at": due.isoformat(), "channel": "ivr_call", "template": "negotiation_call", "reason": "t"}
    plan = {
        "score": 500,
        "tier": "t_console_live",
        "variant": "champion",
        "stage": "mid",
        "reasons": [],
        "steps": [step],
    }
    async with pool.acquire() as conn:
        await store_plans(conn, [(i, plan) for i in ids], due)


async def test_live_monitor_follows_a_real_campaign(stack: Stack) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        await seed(rt.pool, rt.dialer.clock() - timedelta(minutes=1))
        # the stack's database is shared by the session: campaigns earlier tests left running would be
        # hosted too (a serve process runs every running campaign); this test watches its own
        await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE status IN ('running', 'paused')")
        if await rt.pool.fetchval("SELECT count(*) FROM users WHERE name = 'sup'") == 0:
            await add_user(rt.pool, "sup", "supervisor", hash_password(PASSWORD), actor="test")
        host = CampaignHost(rt, poll_s=0.5, tick_s=0.3)
        app = build_app(stack.settings, rt.pool, clock=rt.dialer.clock, live=host.live)
        served = AsyncExitStack()
        base = await served.enter_async_context(serving(app))
        hosting = asyncio.create_task(host.run())
        cid = None
        try:
            async with async_api.async_playwright() as p:
                browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 1000})
                page.set_default_timeout(15_000)
                await page.goto(base + "/login?next=/campaigns")
                await page.fill("#name", "sup")
                await page.fill("#password", PASSWORD)
                await page.click("form.card button[type=submit]")
                await page.wait_for_url(re.compile(r".*/campaigns$"))
                await page.fill("#c-name", "Live monitor test")
                await page.select_option("#c-mode", "ivr")
                await page.fill("#c-tiers", "t_console_live")
                await page.click("form[action='/campaigns'] button[type=submit]")
                await page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
                cid = int(page.url.rsplit("/", 1)[1])
                expect = async_api.expect
                await expect(page.locator("#m-status")).to_have_text("created")
                await page.click("button:has-text('Start')")
                await expect(page.locator("#control-result")).to_contain_text("running")
                # the monitor, pushed over SSE, shows the runner hosted here and calls going out
                await expect(page.locator("#m-status")).to_have_text("running", timeout=10_000)
                await expect(page.locator("#m-level")).to_be_visible(timeout=10_000)
                placed = page.locator("#m-placed")
                await expect(placed).not_to_have_text("0", timeout=30_000)
                done = page.locator("#m-done")
                await expect(done).to_have_text(str(len(NUMBERS)), timeout=120_000)
                updates = int(await page.evaluate("document.body.dataset.monitorUpdates || '0'"))
                assert updates >= 3  # the charts got the metrics events
                await page.wait_for_timeout(1500)  # one more push, so the charts show the last point
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOT), full_page=True)
                await page.click("button:has-text('Stop')")
                await expect(page.locator("#m-status")).to_have_text("stopped", timeout=10_000)
                await browser.close()
            rows = await rt.pool.fetch(
                "SELECT a.state, (SELECT count(*) FROM verdicts v WHERE v.attempt_id = a.id) AS verdicts"
                " FROM attempts a WHERE a.campaign_id = $1",
                cid,
            )
            assert len(rows) == len(NUMBERS) and all(
                r["verdicts"] == 1 for r in rows
            )  # each through the gate
            actions = await rt.pool.fetch(
                "SELECT actor, action FROM audit_log WHERE subject = $1 ORDER BY id", f"campaign:{cid}"
            )
            assert [a["action"] for a in actions if a["actor"] == "sup"] == [
                "campaign.create",
                "campaign.start",
                "campaign.stop",
            ]
            for _ in range(50):  # the stopped campaign's runner ends on its own
                if cid not in host.runners:
                    break
                await asyncio.sleep(0.1)
            assert cid not in host.runners
        finally:
            if cid is not None:
                await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE id = $1", cid)
            hosting.cancel()
            await asyncio.gather(hosting, return_exceptions=True)
            await served.aclose()
