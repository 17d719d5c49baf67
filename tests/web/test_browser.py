"""The console in a real browser: Debian's Chromium driven by Playwright against the app served on a
loopback port (`console` fixture, see web_stack.py). Login and lock-out, the debtor 360 with its
audited unmasking over htmx, what each role is shown, escaping of stored text, the accounts filters,
and every page checked with axe-core and for Content-Security-Policy errors.

The debtor test writes `docs/console/debtor.png` every run (the README's screenshot). Without
/usr/bin/chromium the tests are skipped, never passed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web_stack import PASSWORD, Console

async_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
Browser = async_api.Browser
Page = async_api.Page
expect = async_api.expect

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"{CHROMIUM} is missing: the browser tests need it")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "fixtures" / "vendor" / "axe.min.js"
AXE_PATH = "__test__/axe.min.js"  # never served by the app: answered by page.route
SCREENSHOT = ROOT / "docs" / "console" / "debtor.png"
TIMEOUT_MS = 10_000
SECTIONS = ["Identity and contacts", "Loan", "Scorecard", "Plan", "Repayments", "Promises", "Timeline"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(console: Console, browser: Browser) -> AsyncIterator[Page]:
    """A fresh context and page; depends on `console` so that it closes before the server does."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = await context.new_page()
    try:
        yield pg
    finally:
        await context.close()


async def submit_login(page: Page, console: Console, name: str, password: str) -> Any:
    """Fill the login form (loading it first unless it is on screen) and submit; the POST's response."""
    if not page.url.startswith(console.url + "login"):
        await page.goto(console.url + "login")
    await page.fill("#name", name)
    await page.fill("#password", password)
    async with page.expect_response(
        lambda r: r.url.endswith("/login") and r.request.method == "POST"
    ) as info:
        await page.click("form.card button[type=submit]")
    await page.wait_for_load_state()
    return await info.value


async def log_in(page: Page, console: Console, name: str) -> None:
    await submit_login(page, console, name, PASSWORD)
    assert page.url == console.url + "accounts", page.url


async def account_id(console: Console, ref: str) -> int:
    found: int = await console.pool.fetchval("SELECT id FROM accounts WHERE account_ref = $1", ref)
    return found


async def test_login_wrong_password_lockout_and_release(console: Console, page: Page) -> None:
    limit = console.settings.console.login_max_failures
    assert limit + 2 < console.settings.console.login_per_minute  # one burst stays under the rate limit

    r = await submit_login(page, console, "supervisor", "not the password")
    assert r.status == 401
    assert await page.text_content("#login-error") == "Wrong user name or password."
    assert await page.input_value("#name") == "supervisor"  # the name is kept, the password is not
    assert await page.input_value("#password") == ""

    r = await submit_login(page, console, "supervisor", PASSWORD)
    assert r.status == 303
    assert page.url == console.url + "accounts"
    assert await page.locator("#rows table.list tbody tr").count() == 9
    await page.click("form.who button[type=submit]")  # log out
    await page.wait_for_url(console.url + "login")

    console.clock.advance(minutes=2)  # a fresh minute for the rate limit
    for n in range(1, limit + 1):
        r = await submit_login(page, console, "supervisor", f"wrong {n}")
        if n < limit:
            assert r.status == 401, n
            assert "Wrong user name or password." in await page.text_content("#login-error")
    assert r.status == 423
    assert "locked" in await page.text_content("#login-error")
    locked_until = await console.pool.fetchval("SELECT locked_until FROM users WHERE name = 'supervisor'")
    assert locked_until is not None and locked_until > console.clock.now

    r = await submit_login(page, console, "supervisor", PASSWORD)  # the right password, still locked
    assert r.status == 423
    error = await page.text_content("#login-error")
    assert "locked" in error and "Wrong user name" not in error
    assert page.url.startswith(console.url + "login")
    assert await console.pool.fetchval("SELECT count(*) FROM web_sessions") == 0  # logged out, none opened
    assert await console.pool.fetchval("SELECT count(*) FROM login_attempts WHERE ok") == 1

    console.clock.now = locked_until
    console.clock.advance(minutes=1)
    r = await submit_login(page, console, "supervisor", PASSWORD)
    assert r.status == 303
    assert page.url == console.url + "accounts"
    assert await page.locator("text=supervisor (supervisor)").is_visible()
    row = await console.pool.fetchrow(
        "SELECT locked_until, failed_logins FROM users WHERE name = 'supervisor'"
    )
    assert row["locked_until"] is None and row["failed_logins"] == 0


async def test_debtor_360_unmask_is_audited_and_chart_renders(console: Console, page: Page) -> None:
    acc = await account_id(console, "ACC-1001")
    await console.pool.executemany(
        "INSERT INTO payments (account_id, paid_at, amount, reference) VALUES ($1, $2, $3, $4)",
        [
            (acc, datetime(2026, 10, 5, 17, 0, tzinfo=UTC), Decimal("300.00"), "PAY-1"),
            (acc, datetime(2026, 10, 27, 18, 30, tzinfo=UTC), Decimal("250.00"), "PAY-2"),
            (acc, datetime(2026, 11, 24, 19, 15, tzinfo=UTC), Decimal("400.00"), "PAY-3"),
        ],
    )
    await log_in(page, console, "supervisor")
    await page.goto(console.url + "accounts/ACC-1001")
    identity = page.locator("#identity")
    assert "M**** G*******" in await identity.inner_text()
    assert "Maria Gonzalez" not in await page.content()
    assert "(masked)" in await identity.inner_text()
    headings = [h.strip() for h in await page.locator("main h2").all_inner_texts()]
    for section in SECTIONS:
        assert section in headings, (section, headings)
    chart = page.locator("svg.chart")
    await chart.wait_for(state="visible")
    assert "3 totalling 950.00 USD" in await chart.locator("title").text_content()
    assert await page.locator("section[aria-labelledby=h-pay] tbody tr").count() == 3

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000

    assert await console.pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'account.unmask'") == 0
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', await page.get_attribute("body", "hx-headers") or "")
    assert csrf is not None
    button = page.get_by_role("button", name="Show in full (audited)")
    async with page.expect_request(lambda r: r.url.endswith("/accounts/ACC-1001/unmask")) as req_info:
        await button.click()
    request = await req_info.value
    assert request.method == "POST"
    assert request.headers.get("x-csrf-token") == csrf.group(1)
    assert request.headers.get("hx-request") == "true"
    await expect(identity).to_contain_text("Maria Gonzalez")
    assert "(masked)" not in await identity.inner_text()
    assert "+14155550101" in await identity.inner_text()
    assert page.url == console.url + "accounts/ACC-1001"  # swapped in place, no navigation
    rows = await console.pool.fetch("SELECT actor, subject FROM audit_log WHERE action = 'account.unmask'")
    assert [(r["actor"], r["subject"]) for r in rows] == [("supervisor", "account:ACC-1001")]


async def test_agent_and_viewer_see_less(console: Console, page: Page, browser: Browser) -> None:
    await log_in(page, console, "agent")
    await page.goto(console.url + "accounts/ACC-1001")
    assert "M**** G*******" in await page.locator("#identity").inner_text()
    assert await page.get_by_role("button", name=re.compile("Show in full")).count() == 0
    assert await page.locator("form[action$='/hold']").count() == 0
    assert await page.locator("#hold-flag").count() == 0
    assert await page.locator("a[href$='/audit']").count() == 0
    assert "Maria Gonzalez" not in await page.content()

    context = await browser.new_context()
    try:
        viewer = await context.new_page()
        viewer.set_default_timeout(TIMEOUT_MS)
        await log_in(viewer, console, "viewer")
        nav = await viewer.locator("nav[aria-label=Main] a").all_inner_texts()
        assert "Accounts" in nav and not {"Users", "Compliance", "Purge preview"} & set(nav), nav
        r = await viewer.goto(console.url + "users")
        assert r is not None and r.status == 403
        assert await viewer.text_content("h1") == "403"
        assert "the role viewer may not use this page" in await viewer.inner_text("body")
    finally:
        await context.close()


async def test_stored_markup_is_shown_as_text(console: Console, page: Page) -> None:
    evil = "<script>window.pwned=1</script>Eve"
    await console.pool.execute(
        "UPDATE debtors SET full_name = $1"
        " WHERE id = (SELECT debtor_id FROM accounts WHERE account_ref = $2)",
        evil,
        "ACC-1001",
    )
    await log_in(page, console, "admin")
    await page.goto(console.url + "accounts")
    await page.goto(console.url + "accounts/ACC-1001")
    await page.get_by_role("button", name="Show in full (audited)").click()
    identity = page.locator("#identity")
    await expect(identity).not_to_contain_text("(masked)")
    assert evil in await identity.inner_text()
    assert await page.locator("#identity script, main script").count() == 0
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;Eve" in await identity.inner_html()


async def test_accounts_filters(console: Console, page: Page) -> None:
    await log_in(page, console, "viewer")
    rows = page.locator("#rows tbody tr")
    assert await rows.count() == 9
    await page.evaluate("window.__samePage = 1")  # gone if the filter reloaded the whole page
    await page.fill("#q", "0105")  # the last digits of ACC-1005's phone, +14155550105
    async with page.expect_response(lambda r: "/accounts?" in r.url) as info:
        await page.press("#q", "Enter")
    response = await info.value
    assert response.request.headers.get("hx-request") == "true"
    await expect(rows).to_have_count(1)
    assert (await rows.first.locator("td").first.inner_text()).strip() == "ACC-1005"
    assert await page.evaluate("window.__samePage") == 1
    assert page.url.startswith(console.url + "accounts?q=0105&")  # hx-push-url: the filters in the URL
    assert "1 accounts" in await page.inner_text("#rows caption")

    r = await page.goto(console.url + "accounts?min_overdue=-3")
    assert r is not None and r.status == 400
    assert "min_overdue" in await page.inner_text("body")


PAGES = [
    "accounts",
    "accounts/ACC-1001",
    "accounts/ACC-1001/audit",
    "compliance",
    "compliance/purge",
    "compliance/abandon",
    "users",
    "trunks",
    "trunks/carrier",
    "campaigns",
    "campaigns/1",
    "desk",
]


async def axe_serious(page: Page, base: str) -> list[str]:
    """axe-core's serious and critical violations on the page. axe is loaded as a script from the
    page's own origin (the request is answered by the browser from the fixture file), so the strict
    CSP stays on: an inline script tag, what `add_script_tag(path=...)` adds, would be refused."""
    await page.route(base + AXE_PATH, lambda route: route.fulfill(path=AXE, content_type="text/javascript"))
    await page.add_script_tag(url=base + AXE_PATH)
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_every_page_passes_axe_and_the_csp(console: Console, page: Page) -> None:
    """axe-core finds no serious or critical violation on any page (and on the states a page can be
    in: the login error, the holds banner, the unmasked identity), and no page raises a CSP error."""
    acc = await account_id(console, "ACC-1001")
    await console.pool.execute(
        "INSERT INTO payments (account_id, paid_at, amount, reference) VALUES ($1, $2, 90.00, 'PAY-9')",
        acc,
        datetime(2026, 11, 10, 12, 0, tzinfo=UTC),
    )
    await console.pool.execute(
        "INSERT INTO campaigns (name, mode, status, spec) VALUES ('axe', 'ivr', 'running', '{}')"  # id 1
    )
    csp: list[str] = []
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        if "content security policy" in msg.text.lower().replace("-", " "):
            csp.append(f"{page.url}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    problems: dict[str, list[str]] = {}

    await page.goto(console.url + "login")
    problems["login"] = await axe_serious(page, console.url)
    r = await submit_login(page, console, "admin", "not the password")
    assert r.status == 401
    problems["login, refused"] = await axe_serious(page, console.url)
    await log_in(page, console, "admin")
    for path in PAGES:
        r = await page.goto(console.url + path)
        assert r is not None and r.status == 200, path
        problems[path] = await axe_serious(page, console.url)

    await page.goto(console.url + "accounts/ACC-1001")
    await page.get_by_role("button", name="Show in full (audited)").click()
    await expect(page.locator("#identity")).not_to_contain_text("(masked)")
    problems["accounts/ACC-1001, unmasked"] = await axe_serious(page, console.url)
    await page.select_option("#hold-flag", index=0)
    await page.fill("#hold-reason", "test: the banner's contrast")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#flags")).to_be_visible()
    problems["accounts/ACC-1001, on hold"] = await axe_serious(page, console.url)

    found = {k: v for k, v in problems.items() if v}
    assert not found, "axe:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())
    assert not csp, "CSP errors:\n" + "\n".join(csp)
    assert not errors, "page errors:\n" + "\n".join(errors)

    # the listener does hear this browser's CSP errors: an inline script is refused and reported
    async with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        await page.evaluate(
            "() => document.body.appendChild(Object.assign(document.createElement('script'),"
            " {textContent: 'window.inlineRan = 1'}))"
        )
    assert csp, "the console listener missed the CSP error of an inline script"
    assert await page.evaluate("() => typeof window.inlineRan") == "undefined"
