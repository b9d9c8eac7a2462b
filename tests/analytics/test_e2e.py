"""End to end: clicks through nginx on a real fleet (2 replicas + worker) are counted exactly,
also across a ``kill -9`` of a replica while it serves redirects."""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from service import create_app
from service.accounts.models import User
from service.analytics.models import DailyDimension
from service.analytics.stats import link_stats
from service.extensions import db
from service.links.models import Link
from service.links.services import create_link
from tests.fixtures.fleets import Fleet, fleet_env
from tests.fixtures.services import wait_until
from tests.fixtures.users import add_user

pytestmark = pytest.mark.e2e

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two replicas, the analytics worker, Redis and nginx, stopped after the module."""
    run_dir = tmp_path_factory.mktemp("analytics-fleet")
    env = fleet_env(run_dir)
    running = Fleet(run_dir, env, f"http://127.0.0.1:{env['LINKFLEET_PORT']}")
    running.cli("fleet", "up", "--replicas", "2")
    yield running
    running.cli("fleet", "down", check=False)


@dataclass
class Owner:
    """The app code on the fleet's database and Redis, as the test's hands."""

    app: Flask
    user_id: int

    def link(self, slug: str) -> int:
        with self.app.app_context():
            user = db.session.get(User, self.user_id)
            assert user is not None
            return create_link(user, url="https://example.org/landing", slug=slug).id

    def stats(self, link_id: int) -> dict[str, object]:
        with self.app.app_context():
            link = db.session.get(Link, link_id)
            assert link is not None
            report = link_stats(link, granularity="day")
            db.session.remove()
            return report

    def visits(self, link_id: int) -> int:
        totals = self.stats(link_id)["totals"]
        assert isinstance(totals, dict)
        return int(totals["visits"])

    def referrer_counts(self, link_id: int) -> dict[str, int]:
        with self.app.app_context():
            rows = db.session.execute(
                select(DailyDimension.value, DailyDimension.visits).where(
                    DailyDimension.link_id == link_id, DailyDimension.dimension == "referrer"
                )
            ).all()
            db.session.remove()
        counts: collections.Counter[str] = collections.Counter()
        for value, visits in rows:
            counts[value] += visits
        return dict(counts)


@pytest.fixture(scope="module")
def owner(fleet: Fleet) -> Iterator[Owner]:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "e2e",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{fleet.run_dir / 'linkfleet.db'}",
            "REDIS_URL": fleet.spec.redis_url,
        }
    )
    with app.app_context():
        user_id = add_user("owner@example.com").id
    yield Owner(app, user_id)
    app.shutdown()
    with app.app_context():
        db.engine.dispose()


def redirect_many(url: str, total: int, clients: int = 8) -> collections.Counter[int]:
    """``total`` GETs spread over ``clients`` keep-alive sessions; statuses counted."""
    statuses: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def run(count: int) -> None:
        local: collections.Counter[int] = collections.Counter()
        with requests.Session() as session:
            for _ in range(count):
                response = session.get(
                    url, allow_redirects=False, timeout=10, headers={"User-Agent": USER_AGENT}
                )
                local[response.status_code] += 1
        with lock:
            statuses.update(local)

    shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(run, share) for share in shares]:
            future.result()
    return statuses


def test_10000_redirects_over_2_replicas_are_counted_exactly(fleet: Fleet, owner: Owner) -> None:
    link_id = owner.link("tenk")
    started = time.monotonic()
    statuses = redirect_many(f"{fleet.url}/tenk", 10_000)
    assert statuses == {302: 10_000}
    wait_until(lambda: owner.visits(link_id) >= 10_000, 60, "the clicks were not all counted")
    time.sleep(2)  # anything counted twice would show up now
    stats = owner.stats(link_id)
    assert stats["totals"] == {
        "visits": 10_000,
        "humans": 10_000,
        "bots": 0,
        "unique_visitors": 1,  # every request came from 127.0.0.1
    }
    assert time.monotonic() - started < 90


def _retried_requests(log: Path, slug: str) -> set[int]:
    """Request numbers that nginx sent to more than one replica (from its access log)."""
    pattern = re.compile(rf"^/{slug}\?n=(\d+)$")
    retried = set()
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        match = pattern.match(entry["uri"])
        if match and "," in entry["upstream"]:
            retried.add(int(match.group(1)))
    return retried
