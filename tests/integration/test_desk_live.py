"""The agent desktop on the real stack, in Debian's Chromium: an agent logs in a phone (the carrier
simulator's agent line), a progressive campaign run by this controller connects a debtor to the
agent's bridge, the screen pops over SSE, the agent saves a promise and it lands in the database and
the timeline; a preview account the gate blocks shows the reason and Dial stays disabled. Writes
docs/console/desk.png. Without /usr/bin/chromium the test is skipped, never passed."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from helpers_attempts import stored_call
from helpers_browser import ARGS, CHROMIUM, DOCS, serving
from helpers_desk import campaign, seed

from dunline.controller.app import Controller
from dunline.controller.cli_web import attach_desk
from dunline.controller.host import CampaignHost
from dunline.store.accounts import load_account
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
SCREENSHOT = DOCS / "desk.png"
PASSWORD = "agent desk password"
TALKER = "+14155582901"  # answers, greets, talks to the agent, stays on the line 20 s
CAPPED = "+14155582902"  # already called 7 times this week: the gate blocks an 8th call
AGENT_PHONE = "+15550001009"  # the carrier simulator's agent line


async def test_screen_pop_disposition_and_preview_block(stack: Stack) -> None:
    async with Controller(stack.settings, start_asterisk=False, clock=stack.clock) as rt:
        now = rt.dialer.clock()
        # the stack's database is shared by the session: campaigns earlier tests left running would be
        # hosted too (a serve process runs every running campaign); this test watches its own
        await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE status IN ('running', 'paused')")
        await seed(rt.pool, "DSK-1", TALKER, "t_desk_agent", "agent_call", now - timedelta(minutes=1))
        await seed(rt.pool, "DSK-2", CAPPED, "t_desk_preview", "agent_call", now - timedelta(minutes=1))
        capped = await load_account(rt.pool, "DSK-2")
        assert capped is not None
        for i in range(7):
            await stored_call(rt.pool, capped, now - timedelta(days=1, hours=i), ("dialing", "no_answer"))
        if await rt.pool.fetchval("SELECT count(*) FROM users WHERE name = 'ann'") == 0:
            await add_user(rt.pool, "ann", "agent", hash_password(PASSWORD), actor="test")
        host = CampaignHost(rt, poll_s=0.5, tick_s=0.3)
        desk = attach_desk(rt, host)
        app = build_app(stack.settings, rt.pool, clock=rt.dialer.clock, live=host.live, desk=desk)
        served = AsyncExitStack()
        base = await served.enter_async_context(serving(app))
        hosting = asyncio.create_task(host.run())
        cids: list[int] = []
        expect = async_api.expect
        try:
            async with async_api.async_playwright() as p:
                browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 1100})
                page.set_default_timeout(15_000)
                await page.goto(base + "/login?next=/desk")
                await page.fill("#name", "ann")
                await page.fill("#password", PASSWORD)
                await page.click("form.card button[type=submit]")
                await page.wait_for_url(f"{base}/desk")
                await page.fill("#phone", AGENT_PHONE)
                await page.click("text=Log in my phone")
                await expect(page.locator("#desk-result")).to_contain_text("Logged in", timeout=20_000)
                await expect(page.locator("#agent-state")).to_have_text("ready")

                cids.append(await campaign(rt.pool, "desk progressive", "progressive", "t_desk_agent"))
                pop = page.locator("#pop")
                await expect(pop).to_be_visible(timeout=60_000)  # the debtor joined the agent's bridge
                await expect(pop).to_contain_text("DSK-1")
                await expect(pop).to_contain_text("D*** D****")  # masked on the screen
                await expect(pop).to_contain_text("Mini-Miranda")
                await expect(pop).to_contain_text("local time")
                await expect(page.locator("#agent-state")).to_have_text("on call")
                attempt = await pop.get_attribute("data-attempt")
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOT), full_page=True)

                local_today = now.astimezone(ZoneInfo("America/Los_Angeles")).date()
                await page.select_option("#d-outcome", "promise_to_pay")
                await page.fill("#d-amount", "700.00")  # above the balance: refused, names the field
                await page.fill("#d-date", (local_today + timedelta(days=5)).isoformat())
                async with page.expect_response(lambda r: r.url.endswith("/desk/disposition")) as bad:
                    await page.click("text=Save disposition")
                assert (await bad.value).status == 400 and "amount" in await (await bad.value).text()
                await page.fill("#d-amount", "150.00")
                await page.click("text=Save disposition")
                await expect(page.locator("#screen")).to_contain_text("No call", timeout=10_000)

                row = await rt.pool.fetchrow(
                    "SELECT outcome, detail FROM outcomes WHERE attempt_id = $1::uuid", attempt
                )
                assert row is not None and row["outcome"] == "promise_to_pay"
                assert row["detail"]["by"] == "agent" and row["detail"]["agent"] == "ann"
                assert row["detail"]["slots"]["amount"] == "150.00"
                await page.goto(base + "/accounts/DSK-1")
                await expect(page.locator("table.timeline")).to_contain_text("promise_to_pay (agent)")

                cids.append(await campaign(rt.pool, "desk preview", "preview", "t_desk_preview"))
                await page.goto(base + "/desk")
                for _ in range(80):  # the host picks the campaign up, its leader adds the due account
                    members = await rt.pool.fetchval(
                        "SELECT count(*) FROM campaign_members WHERE campaign_id = $1", cids[-1]
                    )
                    if cids[-1] in host.runners and members:
                        break
                    await asyncio.sleep(0.25)
                await page.goto(base + "/desk")
                await page.select_option("#pv-campaign", str(cids[-1]))
                await page.click("text=Next account")
                reason = page.locator("#gate-reason")
                await expect(reason).to_contain_text("7", timeout=10_000)
                await expect(reason).to_contain_text("Next allowed")
                await expect(page.locator("#dial")).to_be_disabled()
                await page.click("text=Skip")
                await expect(page.locator("#desk-result")).to_contain_text("Skipped")
                await page.click("text=Log out my phone")
                await expect(page.locator("#desk-result")).to_contain_text("Logged out")
                await browser.close()
            assert (
                await rt.pool.fetchval(
                    "SELECT count(*) FROM attempts a JOIN accounts c ON c.id = a.account_id"
                    " WHERE c.account_ref = 'DSK-2' AND a.campaign_id IS NOT NULL"
                )
                == 0
            )  # the blocked preview account was never dialled
            actions = [r["action"] for r in await rt.pool.fetch(
                "SELECT action FROM audit_log WHERE actor = 'ann' ORDER BY id")]  # fmt: skip
            assert actions[:1] == ["login"] and "agent.login" in actions and "agent.disposition" in actions
            assert "agent.skip" in actions and actions[-1] == "agent.logout"
        finally:
            for cid in cids:
                await rt.pool.execute("UPDATE campaigns SET status = 'stopped' WHERE id = $1", cid)
            hosting.cancel()
            await asyncio.gather(hosting, return_exceptions=True)
            await served.aclose()
