"""The administrators' *Domains* page in a real browser (Playwright driving Debian's Chromium).

Chromium resolves ``go.example.test`` to the test server (``--host-resolver-rules``), so the
added domain is reached by its own name, and its root redirect ends at the local target server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service import create_app
from service.accounts.services import create_user
from service.extensions import db
from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.services import RedisServer

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "admin@example.com", "an admin password"


def add_admin(redis_server: RedisServer, tmp_path: Path) -> None:
    """The administrator, written to the live server's database by an app of the same config."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "browser-test-secret",
            "REDIS_URL": redis_server.url,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'browser.db'}",
        }
    )
    with app.app_context():
        create_user(EMAIL, PASSWORD, is_admin=True)
        db.session.remove()
        db.engine.dispose()
    app.shutdown()  # type: ignore[attr-defined]


def test_an_admin_adds_edits_and_removes_a_domain(
    live_server: str, target_server: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    add_admin(redis_server, tmp_path)
    port = live_server.rsplit(":", 1)[1]
    host = f"go.example.test:{port}"
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP go.example.test 127.0.0.1"],
        )
        page: Any = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: problems.append(str(error)))

        page.goto(f"{live_server}/login")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Domains").click()
        expect(page.get_by_role("heading", name="Domains", exact=True)).to_be_visible()
        expect(page.get_by_text("No domain added yet.")).to_be_visible()

        # A bad host is a form error, not a 500.
        page.get_by_label("Host").fill("go example")
        page.get_by_role("button", name="Add domain").click()
        expect(page.locator(".field-error")).to_contain_text("no spaces")

        page.get_by_label("Host").fill(f"GO.example.test:{port}")
        page.get_by_label("Root redirect").fill(f"{target_server}/home/page")
        page.get_by_role("button", name="Add domain").click()
        expect(page.locator(".flash")).to_contain_text(f"Added the domain {host}")
        row = page.locator(f"tr[data-host='{host}']")
        expect(row).to_contain_text(host)

        # The domain answers by its own name: / goes to the root redirect.
        page.goto(f"http://{host}/")
        expect(page.locator("h1")).to_have_text("Target reached: /home/page")
        page.goto(f"http://{host}/dashboard")
        expect(page.locator("body")).to_contain_text("short links only")

        # Edit the fallback, then remove the domain.
        page.goto(f"{live_server}/dashboard/domains")
        row.locator("input[name='root_redirect']").fill(f"{target_server}/else/where")
        row.get_by_role("button", name="Save").click()
        expect(page.locator(".flash")).to_contain_text(f"Saved the domain {host}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "domains-admin.png"), full_page=True)
        page.goto(f"http://{host}/")
        expect(page.locator("h1")).to_have_text("Target reached: /else/where")
        page.goto(f"{live_server}/dashboard/domains")
        page.locator(f"tr[data-host='{host}']").get_by_role("button", name="Remove").click()
        expect(page.locator(".flash")).to_contain_text(f"Removed the domain {host}")
        expect(page.get_by_text("No domain added yet.")).to_be_visible()
        browser.close()
    assert problems == []
