"""Visit limits in Redis: exact under concurrency, across replicas."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask

from service.links import visits
from service.links.services import create_link
from tests.conftest import RedisServer
from tests.links.conftest import UserFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def counters(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session's Redis; the counters made with it are removed afterwards."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    for key in client.scan_iter(visits.VISITS_KEY.format("*")):
        client.delete(key)
    client.close()


def test_counter_basics(counters: redis.Redis) -> None:
    client = counters
    assert visits.visit_count("fresh", client=client) == 0
    assert visits.has_visits_left("fresh", 1, client=client)
    assert visits.consume_visit("fresh", 2, client=client)
    assert visits.consume_visit("fresh", 2, client=client)
    assert not visits.consume_visit("fresh", 2, client=client)
    assert not visits.has_visits_left("fresh", 2, client=client)
    assert visits.visit_count("fresh", client=client) == 2  # refusals are not counted
    visits.move_visits("fresh", "moved", client=client)
    assert visits.visit_count("fresh", client=client) == 0
    assert visits.visit_count("moved", client=client) == 2
    visits.move_visits("never-counted", "moved", client=client)  # nothing to carry: reset
    assert visits.visit_count("moved", client=client) == 0
    assert visits.consume_visit("moved", 1, client=client)
    visits.forget_visits("moved", client=client)
    assert visits.visit_count("moved", client=client) == 0


def test_the_script_is_reloaded_after_a_flush(counters: redis.Redis) -> None:
    client = counters
    assert visits.consume_visit("scripted", 5, client=client)
    client.script_flush()
    assert visits.consume_visit("scripted", 5, client=client)
    assert visits.visit_count("scripted", client=client) == 2


def test_concurrent_visits_never_exceed_the_limit(
    redis_server: RedisServer, counters: redis.Redis
) -> None:
    clients = [redis.Redis.from_url(redis_server.url) for _ in range(4)]  # four "replicas"
    start = threading.Barrier(40)

    def visit(number: int) -> bool:
        start.wait()
        return visits.consume_visit("hot", 5, client=clients[number % len(clients)])

    with ThreadPoolExecutor(max_workers=40) as pool:
        served = list(pool.map(visit, range(40)))
    assert served.count(True) == 5
    assert visits.visit_count("hot", client=clients[0]) == 5


def test_concurrent_redirects_across_replicas_serve_exactly_max_visits(
    app: Flask, make_user: UserFactory, replica_factory: Callable[..., Flask]
) -> None:
    replicas = [app, replica_factory("replica-2"), replica_factory("replica-3")]
    with app.app_context():
        slug = create_link(make_user(), url="https://example.com/", max_visits=5).slug
    start = threading.Barrier(30)

    def follow(number: int) -> int:
        client = replicas[number % len(replicas)].test_client()
        start.wait()
        return client.get(f"/{slug}").status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(follow, range(30)))
    assert statuses.count(302) == 5
    assert statuses.count(410) == 25
