"""Fixtures of the browser tests: the app on a real socket, a local target server, and a
Chromium tab driven by Playwright that records console errors (CSP violations included)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from service import create_app
from service.extensions import db
from tests.fixtures.app import serve
from tests.fixtures.services import RedisServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class _Target(BaseHTTPRequestHandler):
    """Answers every GET with a page naming the path, so the test sees where it landed."""

    def do_GET(self) -> None:
        body = f"<!doctype html><title>Target</title><h1>Target reached: {self.path}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def target_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=server.serve_forever, name="target", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def live_server(redis_server: RedisServer, tmp_path: Path) -> Iterator[str]:
    """The app on a real socket: werkzeug's threaded server, real Redis, a fresh SQLite file."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "browser-test-secret",
            "REDIS_URL": redis_server.url,
            "REPLICA_NAME": "browser-replica",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'browser.db'}",
        }
    )
    with app.app_context():
        db.create_all()
    with serve(app) as url:
        yield url
    app.shutdown()  # type: ignore[attr-defined]
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    redis.Redis.from_url(redis_server.url).flushdb()


@pytest.fixture
def page(live_server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        problems: list[str] = []

        def on_console(message: Any) -> None:
            # A 404 page we asked for is logged as a failed load; CSP violations and script
            # errors are what this watches for.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                problems.append(message.text)

        tab.on("console", on_console)
        tab.on("pageerror", lambda error: problems.append(str(error)))
        tab.problems = problems  # type: ignore[attr-defined]
        yield tab
        context.close()
        browser.close()


BROWSER_PASSWORD = "a browser password"


def sign_up_and_log_in(page: Any, live_server: str, email: str) -> None:
    """A new account through the sign-up and login forms; the tab ends on the dashboard."""
    page.goto(f"{live_server}/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(BROWSER_PASSWORD)
    page.get_by_label("Repeat the password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/dashboard")
