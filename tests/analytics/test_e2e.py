"""End to end: clicks through nginx on the stock fleet (2 replicas + worker) are counted
exactly (a ``kill -9`` of a replica under load is a drill: ``loadtests/drills.py``)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from flask import Flask

from service import create_app
from service.accounts.models import User
from service.analytics.stats import link_stats
from service.extensions import db
from service.links.models import Link
from service.links.services import create_link
from tests.fixtures.fleets import Fleet
from tests.fixtures.services import wait_until
from tests.fixtures.users import add_user

pytestmark = pytest.mark.e2e

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


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
