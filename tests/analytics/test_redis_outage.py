"""Redis stopped for several seconds while redirects go on: clicks are spooled, shipped once
Redis is back, and counted exactly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from service.analytics.extension import DEFAULT_STREAM, analytics
from tests.analytics.conftest import CHROME, counted, drain
from tests.fixtures.app import AppFactory
from tests.fixtures.links import make_link
from tests.fixtures.services import RedisServer, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone, which it stops and starts."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    yield server
    server.stop()


def test_clicks_during_a_redis_outage_are_spooled_then_counted_exactly(
    make_app: AppFactory, private_redis: RedisServer
) -> None:
    app = make_app(REDIS_URL=private_redis.url)
    link_id = make_link(app)
    client = app.test_client()
    served = 0

    def visit(count: int) -> None:
        nonlocal served
        for number in range(count):
            response = client.get(
                "/promo",
                headers={"User-Agent": CHROME},
                environ_base={"REMOTE_ADDR": f"203.0.113.{number % 50}"},
            )
            assert response.status_code == 302
            served += 1

    visit(50)
    shipper = analytics.shipper(app)
    assert shipper is not None
    assert shipper.cursor is not None
    wait_until(lambda: shipper.shipped == 50, 10, "clicks were not shipped while Redis was up")
    assert drain(app).counted == 50  # this Redis keeps nothing over a restart: count first

    private_redis.stop()
    deadline = time.monotonic() + 4  # several seconds of redirects without Redis
    while time.monotonic() < deadline:
        visit(20)
        time.sleep(0.05)
    outage_clicks = served - 50
    assert outage_clicks > 100
    assert shipper.shipped == 50  # nothing could be shipped ...
    assert shipper.cursor.pending_bytes() > 0  # ... it all waits in the spool

    private_redis.start()
    stream = redis.Redis.from_url(private_redis.url)
    wait_until(
        lambda: stream.xlen(DEFAULT_STREAM) == outage_clicks,
        20,
        "the spooled clicks were not shipped after Redis came back",
    )
    assert drain(app).counted == outage_clicks
    assert counted(app, link_id) == served
    stream.close()
