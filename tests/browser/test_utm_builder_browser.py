"""The link form's UTM builder in Chromium: the parameters typed into it are in the saved
link's URL, the URL's other query parameters are kept, and without JavaScript the form (whose
URL field is the source of truth) works as before."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, sign_up_and_log_in
from tests.fixtures.services import RedisServer

pytestmark = pytest.mark.browser


def test_utm_parameters_reach_the_saved_url(page: Any, live_server: str) -> None:
    from playwright.sync_api import expect

    sign_up_and_log_in(page, live_server, "utm@example.com")
    page.goto(f"{live_server}/dashboard/new")
    url = page.get_by_label("Target URL")
    url.fill("https://example.com/spring?ref=home&x=a%20b#offers")
    page.get_by_text("Campaign parameters (UTM)").click()
    page.get_by_label("Source").fill("newsletter")
    page.get_by_label("Medium").fill("email")
    page.get_by_label("Campaign").fill("spring sale")
    expect(url).to_have_value(
        "https://example.com/spring?ref=home&x=a%20b"
        "&utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale#offers"
    )
    page.get_by_label("Short name").fill("spring")
    page.get_by_role("button", name="Save link").click()
    expect(page).to_have_url(f"{live_server}/dashboard/links/spring")
    saved = (
        "https://example.com/spring?ref=home&x=a%20b"
        "&utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale#offers"
    )
    expect(page.locator(".facts-list a.break")).to_have_text(saved)

    # Editing: the builder opens filled from the saved URL; a change rewrites the value in
    # place, an emptied input removes its parameter, the rest of the URL stays as it was.
    page.goto(f"{live_server}/dashboard/links/spring/edit")
    expect(page.get_by_label("Source")).to_have_value("newsletter")
    expect(page.get_by_label("Campaign")).to_have_value("spring sale")
    page.get_by_label("Campaign").fill("summer")
    page.get_by_label("Medium").fill("")
    page.get_by_label("Content").fill("footer")
    edited = (
        "https://example.com/spring?ref=home&x=a%20b"
        "&utm_source=newsletter&utm_campaign=summer&utm_content=footer#offers"
    )
    expect(page.get_by_label("Target URL")).to_have_value(edited)
    page.get_by_role("button", name="Save link").click()
    expect(page.locator(".flash")).to_contain_text("Saved")
    expect(page.locator(".facts-list a.break")).to_have_text(edited)

    # Parameters typed into the URL itself show up in the builder.
    page.goto(f"{live_server}/dashboard/new")
    page.get_by_label("Target URL").fill("https://example.com/?utm_source=typed&utm_term=a+b")
    page.get_by_text("Campaign parameters (UTM)").click()
    expect(page.get_by_label("Source")).to_have_value("typed")
    expect(page.get_by_label("Term")).to_have_value("a b")

    # Without a usable URL the builder says so and writes nothing.
    page.get_by_label("Target URL").fill("")
    page.get_by_label("Source").fill("orphan")
    expect(page.locator(".utm-status")).to_be_visible()
    expect(page.get_by_label("Target URL")).to_have_value("")

    assert page.problems == [], page.problems  # no CSP violations or script errors


def test_without_javascript_the_url_field_is_all_there_is(
    live_server: str, redis_server: RedisServer
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(java_script_enabled=False)
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        sign_up_and_log_in(tab, live_server, "utm-nojs@example.com")
        tab.goto(f"{live_server}/dashboard/new")
        expect(tab.locator(".utm-builder")).to_be_hidden()
        typed = "https://example.com/?a=1&utm_source=by_hand"
        tab.get_by_label("Target URL").fill(typed)
        tab.get_by_label("Short name").fill("byhand")
        tab.get_by_role("button", name="Save link").click()
        expect(tab.locator(".facts-list a.break")).to_have_text(typed)
        context.close()
        browser.close()
