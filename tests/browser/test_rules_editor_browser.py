"""The rule editor in a real browser: Playwright driving Debian's Chromium (the live server
and target server of ``tests/browser/conftest.py``): add, fill, reorder and remove rules and
conditions, see a server-side error next to its rule, and follow the saved rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import sign_up_and_log_in

pytestmark = pytest.mark.browser


def test_edit_rules_in_the_form(page: Any, live_server: str, target_server: str) -> None:
    from playwright.sync_api import expect

    sign_up_and_log_in(page, live_server, "rules@example.com")
    page.goto(f"{live_server}/dashboard/new")
    page.get_by_label("Target URL").fill(f"{target_server}/to/default")
    page.get_by_label("Short name").fill("ruled")

    # Rule 1: a query condition; rule 2: a country code the server refuses.
    page.get_by_role("button", name="Add a rule").click()
    page.get_by_label("Rule 1 target").fill(f"{target_server}/to/mail")
    page.get_by_label("Rule 1, condition 1 type").select_option("query")
    page.get_by_label("Rule 1, condition 1 parameter").fill("utm_source")
    page.get_by_label("Rule 1, condition 1 value").fill("mail")
    page.get_by_role("button", name="Add a rule").click()
    page.get_by_label("Rule 2 target").fill(f"{target_server}/to/french")
    page.get_by_label("Rule 2, condition 1 type").select_option("country")
    page.get_by_label("Rule 2, condition 1 value").fill("France")
    page.get_by_role("button", name="Save link").click()

    rule_two = page.locator("li.rule").nth(1)
    expect(rule_two.locator(".field-error")).to_have_text(
        "Rule 2, condition 1 (country): Give a two-letter ISO 3166 country code such as FR."
    )
    expect(page.locator("li.rule").nth(0).locator(".field-error")).to_have_count(0)
    # What was typed is back in the editor.
    expect(page.get_by_label("Rule 1, condition 1 parameter")).to_have_value("utm_source")

    # Fix rule 2 into a language rule with a second condition, move it first, add and
    # remove a third rule, then save.
    page.get_by_label("Rule 2, condition 1 type").select_option("language")
    page.get_by_label("Rule 2, condition 1 value").fill("fr")
    page.get_by_role("button", name="Add a condition to rule 2").click()
    page.get_by_label("Rule 2, condition 2 type").select_option("device")
    page.get_by_label("Rule 2, condition 2 value").select_option("desktop")
    page.get_by_role("button", name="Move rule 2 up").click()
    expect(page.get_by_label("Rule 1 target")).to_have_value(f"{target_server}/to/french")
    page.get_by_role("button", name="Add a rule").click()
    expect(page.locator("li.rule")).to_have_count(3)
    page.get_by_role("button", name="Remove rule 3", exact=True).click()
    expect(page.locator("li.rule")).to_have_count(2)
    page.get_by_role("button", name="Save link").click()
    expect(page).to_have_url(f"{live_server}/dashboard/links/ruled")

    # The saved order and conditions are what the editor shows when editing.
    page.goto(f"{live_server}/dashboard/links/ruled/edit")
    expect(page.get_by_label("Rule 1 target")).to_have_value(f"{target_server}/to/french")
    expect(page.get_by_label("Rule 1, condition 2 value")).to_have_value("desktop")
    expect(page.get_by_label("Rule 2, condition 1 parameter")).to_have_value("utm_source")

    # Chromium on Linux is a desktop: with French first it takes rule 1, with the mail
    # parameter rule 2, else the link's URL.
    context = page.context
    context.set_extra_http_headers({"Accept-Language": "fr-FR,fr;q=0.9"})
    page.goto(f"{live_server}/ruled")
    expect(page.locator("h1")).to_have_text("Target reached: /to/french")
    context.set_extra_http_headers({"Accept-Language": "en-GB"})
    page.goto(f"{live_server}/ruled?utm_source=mail")
    expect(page.locator("h1")).to_have_text("Target reached: /to/mail")
    page.goto(f"{live_server}/ruled")
    expect(page.locator("h1")).to_have_text("Target reached: /to/default")

    # Removing every rule leaves a plain link.
    page.goto(f"{live_server}/dashboard/links/ruled/edit")
    page.get_by_role("button", name="Remove rule 2", exact=True).click()
    page.get_by_role("button", name="Remove rule 1, condition 2").click()
    expect(page.get_by_label("Rule 1, condition 2 type")).to_have_count(0)
    page.get_by_role("button", name="Remove rule 1", exact=True).click()
    page.get_by_role("button", name="Save link").click()
    expect(page).to_have_url(f"{live_server}/dashboard/links/ruled")
    context.set_extra_http_headers({"Accept-Language": "fr"})
    page.goto(f"{live_server}/ruled")
    expect(page.locator("h1")).to_have_text("Target reached: /to/default")
    assert page.problems == []  # no script error, no CSP violation
