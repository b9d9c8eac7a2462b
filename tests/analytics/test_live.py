"""Live visits: the stats pages' event streams, fed by the worker through Redis pub/sub.

A real worker drains the real stream on real Redis and a real database (both backends);
the streams are read unbuffered from the app, event by event, in a reader thread. Timing
through a real fleet and nginx is the e2e test's (tests/e2e/test_live_fleet.py).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.analytics.extension import analytics
from service.analytics.live import LiveHub, hub_of
from service.extensions import db
from tests.analytics.conftest import CHROME, GOOGLEBOT, drain
from tests.fixtures.app import AppFactory
from tests.fixtures.links import make_link
from tests.fixtures.services import wait_until
from tests.fixtures.users import WebHelper

pytestmark = pytest.mark.integration

#: Fast streams for tests: heartbeats every 0.2 s.
FAST = {"LIVE_HEARTBEAT_S": 0.2, "LIVE_MAX_LIFETIME_S": 60}


class EventReader:
    """Reads an unbuffered streamed response in a thread; each SSE block lands in ``blocks``."""

    def __init__(self, response: Any, hub: LiveHub) -> None:
        self.response = response
        self.hub = hub
        self.blocks: queue.Queue[str] = queue.Queue()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buffer = ""
        try:
            for chunk in self.response.response:
                buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    self.blocks.put(block)
        finally:
            self.ended.set()

    def next_event(self, name: str, timeout: float = 10) -> dict[str, Any]:
        """The data of the next ``event: name`` block (other blocks are skipped)."""
        while True:
            block = self.blocks.get(timeout=timeout)
            lines = block.splitlines()
            if f"event: {name}" in lines:
                data = next(line for line in lines if line.startswith("data: "))
                return json.loads(data[len("data: ") :])  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the response once its generator has returned (closing a generator that
        another thread is running fails; a real server closes from the writing greenlet).
        A stream still open is ended as the process's shutdown ends it."""
        if not self.ended.is_set():
            self.hub.end_streams()
        assert self.ended.wait(5), "the stream did not end"
        self.response.close()


@pytest.fixture
def live_app(make_app: AppFactory) -> Flask:
    return make_app(**FAST)


def _logged_in(app: Flask, email: str, *, admin: bool = False) -> FlaskClient:
    web = WebHelper(app)
    web.create_user(email, admin=admin)
    client = app.test_client()
    web.log_in(client, email)
    return client


@pytest.fixture
def streams() -> Iterator[list[EventReader]]:
    opened: list[EventReader] = []
    yield opened
    for reader in opened:
        reader.close()


def _open(client: FlaskClient, path: str, streams: list[EventReader]) -> EventReader:
    response = client.get(path, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    hub = hub_of(client.application)
    assert hub is not None
    reader = EventReader(response, hub)
    streams.append(reader)
    return reader


def _click(app: Flask, slug: str, times: int = 1, agent: str = CHROME) -> None:
    visitor = app.test_client()
    for _ in range(times):
        assert visitor.get(f"/{slug}", headers={"User-Agent": agent}).status_code == 302


def _count(app: Flask, clicks: int) -> None:
    """Ship what was spooled, then let a real worker count it (and publish the counts)."""
    shipper = analytics.shipper(app)
    assert shipper is not None
    wait_until(lambda: shipper.shipped >= clicks, 10, "the clicks were shipped")
    assert drain(app).counted >= 1


def test_the_owner_sees_each_counted_batch_on_the_links_stream(
    live_app: Flask, streams: list[EventReader]
) -> None:
    owner = _logged_in(live_app, "owner@example.com")
    link_id = make_link(live_app, "promo", owner="owner@example.com")
    make_link(live_app, "elsewhere", owner="owner@example.com")
    hub = hub_of(live_app)
    assert hub is not None
    reader = _open(owner, "/dashboard/links/promo/stats/live", streams)
    first = reader.blocks.get(timeout=10)
    assert first.startswith("retry: 3000")
    wait_until(lambda: hub.listening, 10, "the hub's listener subscribed")
    _click(live_app, "promo", 2)
    _click(live_app, "promo", agent=GOOGLEBOT)
    _click(live_app, "elsewhere")  # another link: not on this stream
    _count(live_app, 4)
    assert reader.next_event("clicks") == {"visits": 3, "links": {str(link_id): 3}}
    assert hub.open_streams == 1


def test_an_idle_stream_sends_heartbeats_and_ends_after_its_lifetime(
    make_app: AppFactory, streams: list[EventReader]
) -> None:
    app = make_app(LIVE_HEARTBEAT_S=0.1, LIVE_MAX_LIFETIME_S=0.5)
    owner = _logged_in(app, "owner@example.com")
    make_link(app, "promo", owner="owner@example.com")
    reader = _open(owner, "/dashboard/links/promo/stats/live", streams)
    assert reader.ended.wait(10), "the stream outlived its lifetime"
    blocks = []
    while not reader.blocks.empty():
        blocks.append(reader.blocks.get())
    assert ": heartbeat" in blocks
    assert blocks[-1] == "event: bye\ndata: {}"
    wait_until(lambda: hub_of(app).open_streams == 0, 5, "the slot was given back")  # type: ignore[union-attr]


def test_the_stream_headers_keep_proxies_from_buffering_and_no_db_connection_is_held(
    live_app: Flask, streams: list[EventReader]
) -> None:
    owner = _logged_in(live_app, "owner@example.com")
    make_link(live_app, "promo", owner="owner@example.com")
    response = owner.get("/dashboard/links/promo/stats/live", buffered=False)
    streams.append(EventReader(response, hub_of(live_app)))  # type: ignore[arg-type]
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Length" not in response.headers
    with live_app.app_context():
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_past_the_cap_streams_are_refused_with_503_until_one_closes(
    make_app: AppFactory, streams: list[EventReader]
) -> None:
    app = make_app(LIVE_MAX_STREAMS=1, LIVE_HEARTBEAT_S=0.2, LIVE_MAX_LIFETIME_S=1)
    owner = _logged_in(app, "owner@example.com")
    make_link(app, "promo", owner="owner@example.com")
    first = _open(owner, "/dashboard/links/promo/stats/live", streams)
    refused = owner.get("/dashboard/links/promo/stats/live")
    assert refused.status_code == 503
    assert refused.mimetype == "application/problem+json"
    assert refused.headers["Retry-After"] == "10"
    assert "refreshes" in refused.get_json()["detail"]
    assert owner.get("/dashboard/stats/live").status_code == 503  # the cap is per process
    assert first.ended.wait(10), "the first stream outlived its lifetime"
    first.close()  # as the server does once the body is sent
    wait_until(lambda: hub_of(app).open_streams == 0, 5, "the slot was given back")  # type: ignore[union-attr]
    _open(owner, "/dashboard/links/promo/stats/live", streams)


def test_only_the_owner_may_subscribe(live_app: Flask) -> None:
    other = _logged_in(live_app, "other@example.com")
    make_link(live_app, "promo", owner="owner@example.com")
    assert other.get("/dashboard/links/promo/stats/live").status_code == 404
    assert other.get("/dashboard/links/nothing/stats/live").status_code == 404
    assert other.get("/dashboard/links/promo/stats/summary.json").status_code == 404
    anonymous = live_app.test_client().get("/dashboard/links/promo/stats/live")
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]
    assert hub_of(live_app).open_streams == 0  # type: ignore[union-attr]


def test_the_overview_stream_carries_the_users_links_only(
    live_app: Flask, streams: list[EventReader]
) -> None:
    owner = _logged_in(live_app, "owner@example.com")
    root = _logged_in(live_app, "root@example.com", admin=True)
    mine = make_link(live_app, "mine", owner="owner@example.com")
    make_link(live_app, "theirs", owner="someone@example.com")
    reader = _open(owner, "/dashboard/stats/live", streams)
    admin = _open(root, "/dashboard/stats/live", streams)
    hub = hub_of(live_app)
    assert hub is not None
    wait_until(lambda: hub.listening, 10, "the hub's listener subscribed")
    _click(live_app, "theirs")
    _click(live_app, "mine")
    _count(live_app, 2)
    assert reader.next_event("clicks") == {"visits": 1, "links": {str(mine): 1}}
    assert admin.next_event("clicks")["visits"] == 2


def test_stopping_the_process_ends_open_streams(
    live_app: Flask, streams: list[EventReader]
) -> None:
    """SIGTERM (gunicorn's drain) ends the streams at once, so they do not hold it up."""
    owner = _logged_in(live_app, "owner@example.com")
    make_link(live_app, "promo", owner="owner@example.com")
    reader = _open(owner, "/dashboard/links/promo/stats/live", streams)
    reader.blocks.get(timeout=10)
    analytics.hurry(live_app)
    assert reader.next_event("bye") == {}
    assert reader.ended.wait(5)


def test_the_summary_has_the_pages_totals(live_app: Flask) -> None:
    owner = _logged_in(live_app, "owner@example.com")
    make_link(live_app, "promo", owner="owner@example.com")
    _click(live_app, "promo", 2)
    _count(live_app, 2)
    summary = owner.get("/dashboard/links/promo/stats/summary.json")
    assert summary.status_code == 200
    assert summary.get_json()["totals"] == {
        "visits": 2,
        "humans": 2,
        "bots": 0,
        "unique_visitors": 1,
    }
    overview = owner.get("/dashboard/stats/summary.json").get_json()
    assert overview["totals"]["visits"] == 2
    assert overview["totals"]["links"] == 1
    bad = owner.get("/dashboard/links/promo/stats/summary.json?from=yesterday")
    assert bad.status_code == 400
    assert bad.mimetype == "application/problem+json"
    assert "from" in bad.get_json()["errors"]


def test_the_stats_page_offers_its_stream_and_summary(live_app: Flask) -> None:
    owner = _logged_in(live_app, "owner@example.com")
    make_link(live_app, "promo", owner="owner@example.com")
    html = owner.get("/dashboard/links/promo/stats?granularity=day").get_data(as_text=True)
    assert 'data-live-stream="/dashboard/links/promo/stats/live"' in html
    assert 'data-live-summary="/dashboard/links/promo/stats/summary.json?granularity=day"' in html
    assert 'data-total="visits"' in html
    assert "live-stats.js" in html
