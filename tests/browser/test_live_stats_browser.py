"""Live statistics in a real browser: Chromium shows a click on the stats page without a
reload, through the event stream, and by polling when the stream is refused.

The app runs on a real HTTP server (werkzeug, threads) with click capture on, a real
analytics worker counts in a thread, all on the real Redis and a SQLite file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from service import create_app
from service.accounts.services import create_user
from service.extensions import db
from tests.analytics.conftest import CHROME, analytics_config, make_worker
from tests.fixtures.links import make_link
from tests.fixtures.services import RedisServer

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "live-browser@example.com", "a live browser password"


@pytest.fixture(params=["stream", "polling"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def live_server(redis_server: RedisServer, tmp_path: Path, mode: str) -> Iterator[str]:
    """The app on a real socket with click capture, and a worker counting in a thread; in
    ``polling`` mode every stream is refused (a cap of 0), so the page must poll."""
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": redis_server.url,
            "REPLICA_NAME": "live-browser",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'live.db'}",
            **analytics_config(tmp_path / "spool"),
            "LIVE_MAX_STREAMS": 0 if mode == "polling" else 10,
            "LIVE_POLL_S": 2,
        }
    )
    with app.app_context():
        db.create_all()
        create_user(EMAIL, PASSWORD)
    make_link(app, "watched", owner=EMAIL)
    worker = make_worker(app)
    counting = threading.Thread(target=worker.run, name="worker", daemon=True)
    counting.start()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    serving.start()
    yield f"http://127.0.0.1:{server.server_port}"
    app.shutdown()  # type: ignore[attr-defined]  # ends the open streams first
    server.shutdown()
    server.server_close()
    serving.join(5)
    worker.stop()
    counting.join(10)
    worker.client.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    redis.Redis.from_url(redis_server.url).flushdb()


def test_the_visit_count_updates_without_a_reload(
    page: Any,
    live_server: str,
    mode: str,
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server}/dashboard/links/watched/stats")
    visits = page.locator("[data-total='visits']")
    expect(visits).to_have_text("0")
    status = page.locator("[data-live-stream]")
    expect(status).to_have_attribute("data-live-mode", "live" if mode == "stream" else "polling")
    page.evaluate("window.notReloaded = true")

    click = requests.get(
        f"{live_server}/watched", headers={"User-Agent": CHROME}, allow_redirects=False, timeout=10
    )
    assert click.status_code == 302
    expect(visits).to_have_text("1")
    expect(page.locator("[data-total='humans']")).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True
    if mode == "stream":
        assert page.problems == []  # type: ignore[attr-defined]
