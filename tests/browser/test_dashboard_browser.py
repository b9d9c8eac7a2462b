"""The dashboard in a real browser: Playwright driving Debian's Chromium.

The app runs on a real HTTP server (werkzeug, in a thread) on the real Redis and SQLite;
link targets point at a second tiny local server, so following a link needs no internet.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.services import RedisServer

pytestmark = pytest.mark.browser


def test_sign_up_log_in_manage_a_link_and_log_out(
    page: Any, live_server: str, target_server: str
) -> None:
    from playwright.sync_api import expect

    email, password = "browser@example.com", "a browser password"

    # Sign up, then log in.
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat the password").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".flash")).to_contain_text("Your account is ready")
    expect(page.get_by_label("Email")).to_have_value(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.get_by_role("heading", name="Your links")).to_be_visible()

    # Create a link whose target is the local target server.
    page.get_by_role("link", name="New link").click()
    page.get_by_label("Target URL").fill(f"{target_server}/landing/first")
    page.get_by_label("Short name").fill("docs")
    page.get_by_label("Title").fill("Documentation")
    page.get_by_label("Tags").fill("docs, handbook")
    page.get_by_role("button", name="Save link").click()
    expect(page).to_have_url(f"{live_server}/dashboard/links/docs")
    expect(page.locator("#short-url")).to_have_value(f"{live_server}/docs")
    expect(page.locator("svg.qr")).to_be_visible()
    copy = page.locator("button[data-copy-target='short-url']")
    expect(copy).to_be_visible()  # dashboard.js un-hid it
    copy.click()
    expect(copy).to_have_text("Copied")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "link-detail.png"), full_page=True)

    # Two more links so that the dashboard screenshot shows a real list.
    for slug, path, tags in (
        ("blog", "/blog/post-1", "blog"),
        ("talk", "/talks/pycon", "talks, video"),
    ):
        page.goto(f"{live_server}/dashboard/new")
        page.get_by_label("Target URL").fill(f"{target_server}{path}")
        page.get_by_label("Short name").fill(slug)
        page.get_by_label("Tags").fill(tags)
        page.get_by_role("button", name="Save link").click()
        expect(page).to_have_url(f"{live_server}/dashboard/links/{slug}")

    # Follow the short link: the redirect lands on the target server.
    page.goto(f"{live_server}/docs")
    expect(page).to_have_url(f"{target_server}/landing/first")
    expect(page.locator("h1")).to_have_text("Target reached: /landing/first")

    # The dashboard lists the links; screenshot it.
    page.goto(f"{live_server}/dashboard")
    rows = page.locator("table.links tbody tr")
    expect(rows).to_have_count(3)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Edit: a new target, and following the link goes there.
    page.locator("tr", has_text="docs").get_by_role("link", name="Edit").click()
    expect(page).to_have_url(f"{live_server}/dashboard/links/docs/edit")
    page.screenshot(path=str(ARTIFACTS / "link-edit.png"), full_page=True)
    page.get_by_label("Target URL").fill(f"{target_server}/landing/second")
    page.get_by_role("button", name="Save link").click()
    expect(page.locator(".flash")).to_contain_text("Saved")
    page.goto(f"{live_server}/docs")
    expect(page).to_have_url(f"{target_server}/landing/second")

    # Delete through the confirmation page.
    page.goto(f"{live_server}/dashboard")
    page.locator("tr", has_text="docs").get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete “docs”?")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "link-delete.png"))
    page.get_by_role("button", name="Delete link").click()
    expect(page).to_have_url(f"{live_server}/dashboard")
    expect(page.locator(".flash")).to_contain_text("Deleted the link “docs”.")
    expect(rows).to_have_count(2)
    response = page.goto(f"{live_server}/docs")
    assert response is not None
    assert response.status == 404

    # Log out from the navigation; the dashboard then asks for a login.
    page.goto(f"{live_server}/dashboard")
    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash")).to_contain_text("You are logged out.")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto(f"{live_server}/dashboard")
    expect(page).to_have_url(f"{live_server}/login?next=%2Fdashboard")

    assert page.problems == [], page.problems  # no CSP violations or script errors


def test_dashboard_works_without_javascript(live_server: str, redis_server: RedisServer) -> None:
    """Every core action is a link or a form: with scripting off the flow still works."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 420, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server}/signup")
        page.get_by_label("Email").fill("nojs@example.com")
        page.get_by_label("Password", exact=True).fill("no script password")
        page.get_by_label("Repeat the password").fill("no script password")
        page.get_by_role("button", name="Create account").click()
        page.get_by_label("Password").fill("no script password")
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{live_server}/dashboard/new")
        page.get_by_label("Target URL").fill("https://example.com/no/js")
        page.get_by_label("Short name").fill("nojs")
        page.get_by_role("button", name="Save link").click()
        expect(page.locator("#short-url")).to_have_value(f"{live_server}/nojs")
        expect(page.locator("button[data-copy-target='short-url']")).to_be_hidden()
        page.goto(f"{live_server}/dashboard")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-mobile-nojs.png"), full_page=True)
        page.get_by_role("link", name="Delete").click()
        page.get_by_role("button", name="Delete link").click()
        expect(page.locator(".flash")).to_contain_text("Deleted")
        context.close()
        browser.close()
