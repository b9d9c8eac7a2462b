"""``/api/docs`` in Chromium: Swagger UI renders from local files under the app's CSP."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.parametrize("database_config", ["sqlite"], indirect=True)
def test_swagger_ui_renders_without_csp_violations(live_server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    requests_seen: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests_seen.append(request.url))
            page.goto(f"{live_server}/api/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("LinkFleet API")
            # Every operation of the spec the page was built from is shown.
            spec = requests.get(f"{live_server}/api/openapi.json", timeout=10).json()
            methods = {"get", "post", "put", "patch", "delete", "head", "options"}
            operations = sum(len(methods & set(item)) for item in spec["paths"].values())
            expect(page.locator(".opblock")).to_have_count(operations)
            page.locator(".opblock-summary", has_text="/api/v1/links/{slug}/qr.png").click()
            expect(page.locator(".parameters-container").first).to_contain_text("scale")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=False)
        finally:
            browser.close()
    assert not problems, problems
    assert all(url.startswith(live_server) for url in requests_seen), requests_seen
