"""Visit limits in Redis: exact under concurrency, across replicas."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask import Flask

from service.accounts.models import User
from service.extensions import db
from service.links import visits
from service.links.cache import link_cache
from service.links.models import Link
from service.links.services import create_link, delete_link, update_link
from tests.fixtures.services import RedisServer
from tests.fixtures.users import UserFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def counters(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session's Redis; the counters made with it are removed afterwards."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    for pattern in (visits.VISITS_KEY.format("*"), visits.GRANTED_KEY.format("*", "*")):
        for key in client.scan_iter(pattern):
            client.delete(key)
    client.close()


def link_cache_redis(app: Flask) -> redis.Redis:
    with app.app_context():
        return link_cache.redis


def test_counter_basics(counters: redis.Redis) -> None:
    client = counters
    assert visits.visit_count(7, client=client) == 0
    assert visits.has_visits_left(7, 1, client=client)
    assert visits.consume_visit(7, 2, client=client)
    assert visits.consume_visit(7, 2, client=client)
    assert not visits.consume_visit(7, 2, client=client)
    assert not visits.has_visits_left(7, 2, client=client)
    assert visits.visit_count(7, client=client) == 2  # refusals are not counted
    assert visits.visit_counts([7, 8], client=client) == [2, 0]
    visits.forget_visits(7, client=client)
    assert visits.visit_count(7, client=client) == 0


def test_a_retried_request_spends_one_visit(counters: redis.Redis) -> None:
    """nginx retries a GET on another replica after the first one counted it: the same
    request id is let through again without spending a second visit."""
    client = counters
    assert visits.consume_visit(3, 2, request_id="req-0001-aaaa", client=client)
    assert visits.consume_visit(3, 2, request_id="req-0001-aaaa", client=client)  # the retry
    assert visits.visit_count(3, client=client) == 1
    assert visits.consume_visit(3, 2, request_id="req-0002-bbbb", client=client)
    assert not visits.consume_visit(3, 2, request_id="req-0003-cccc", client=client)
    assert visits.consume_visit(3, 2, request_id="req-0001-aaaa", client=client)  # granted
    assert visits.visit_count(3, client=client) == 2
    marker = visits.GRANTED_KEY.format(3, "req-0001-aaaa")
    assert 0 < client.ttl(marker) <= visits.GRANTED_TTL  # remembered for minutes, not kept


def test_an_upgraded_counter_keyed_by_slug_is_adopted(app: Flask, make_user: UserFactory) -> None:
    """Counters were keyed by slug before the upgrade: a limit already spent stays spent
    (the first visit moves the old counter under the link id)."""
    with app.app_context():
        link = create_link(make_user(), url="https://example.com/", slug="legacy", max_visits=3)
        link_id = link.id
    client = app.test_client()
    store = link_cache_redis(app)
    store.set(visits.LEGACY_VISITS_KEY.format("legacy"), 2)
    store.delete(visits.VISITS_KEY.format(link_id))
    assert client.get("/legacy").status_code == 302
    assert client.get("/legacy").status_code == 410
    assert store.get(visits.VISITS_KEY.format(link_id)) == b"3"
    assert not store.exists(visits.LEGACY_VISITS_KEY.format("legacy"))


def test_the_script_is_reloaded_after_a_flush(counters: redis.Redis) -> None:
    client = counters
    assert visits.consume_visit(11, 5, client=client)
    client.script_flush()
    assert visits.consume_visit(11, 5, client=client)
    assert visits.visit_count(11, client=client) == 2


def test_concurrent_visits_never_exceed_the_limit(
    redis_server: RedisServer, counters: redis.Redis
) -> None:
    clients = [redis.Redis.from_url(redis_server.url) for _ in range(4)]  # four "replicas"
    start = threading.Barrier(40)

    def visit(number: int) -> bool:
        start.wait()
        return visits.consume_visit(12, 5, client=clients[number % len(clients)])

    with ThreadPoolExecutor(max_workers=40) as pool:
        served = list(pool.map(visit, range(40)))
    assert served.count(True) == 5
    assert visits.visit_count(12, client=clients[0]) == 5


def test_concurrent_redirects_across_replicas_serve_exactly_max_visits(
    app: Flask, make_user: UserFactory, replica_factory: Callable[..., Flask]
) -> None:
    # Thirty clients from one address see 404s while the rename lands: a budget of unknown
    # slugs they cannot exhaust, or an uncached lookup would answer 429 instead.
    roomy = "1000 per minute"
    replicas = [replica_factory(f"replica-{n}", LINK_NOT_FOUND_LIMIT=roomy) for n in (1, 2, 3)]
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


def test_nginx_retry_of_a_limited_link_is_served_once_per_request_id(
    app: Flask, make_user: UserFactory, replica_factory: Callable[..., Flask]
) -> None:
    """Two replicas get the same request from the trusted proxy (a retry): one visit spent.
    A client that is not the proxy cannot replay an id to get visits for free."""
    with app.app_context():
        slug = create_link(make_user(), url="https://example.com/", max_visits=2).slug
    first, second = app.test_client(), replica_factory("replica-2").test_client()
    retried = {"X-Request-ID": "0123456789abcdef0123456789abcdef"}
    assert first.get(f"/{slug}", headers=retried).status_code == 302
    assert second.get(f"/{slug}", headers=retried).status_code == 302  # nginx's retry
    outsider = {"REMOTE_ADDR": "203.0.113.9"}
    other = {"X-Request-ID": "fedcba9876543210fedcba9876543210"}
    assert first.get(f"/{slug}", headers=other, environ_base=outsider).status_code == 302
    assert first.get(f"/{slug}", headers=other, environ_base=outsider).status_code == 410
    assert first.get(f"/{slug}", headers=retried).status_code == 302  # still the same request


def test_the_limit_holds_across_a_rename_under_concurrency(
    app: Flask, make_user: UserFactory, replica_factory: Callable[..., Flask]
) -> None:
    """Replicas keep visiting (some through a stale cache of the old slug) while the link
    is renamed: the counter is the link's, so exactly max_visits are served in all."""
    # Thirty clients from one address see 404s while the rename lands: a budget of unknown
    # slugs they cannot exhaust, or an uncached lookup would answer 429 instead.
    roomy = "1000 per minute"
    replicas = [replica_factory(f"replica-{n}", LINK_NOT_FOUND_LIMIT=roomy) for n in (1, 2, 3)]
    with app.app_context():
        link = create_link(make_user(), url="https://example.com/", slug="old-name", max_visits=20)
        link_id = link.id
    start = threading.Barrier(31)

    def follow(number: int) -> int:
        client = replicas[number % len(replicas)].test_client()
        start.wait()
        statuses = [client.get(f"/{slug}").status_code for slug in ("old-name", "new-name")]
        return statuses.count(302)

    with ThreadPoolExecutor(max_workers=30) as pool:
        futures = [pool.submit(follow, number) for number in range(30)]
        start.wait()
        with app.app_context():
            renamed = db.session.get(Link, link_id)
            assert renamed is not None
            update_link(renamed, slug="new-name")
        served = sum(future.result() for future in futures)
    assert served == 20
    with app.app_context():
        assert visits.visit_count(link_id) == 20


def test_a_new_link_reusing_a_slug_starts_from_zero_visits(
    app: Flask, make_user: UserFactory
) -> None:
    client = app.test_client()
    with app.app_context():
        owner_id = make_user().id
        owner = db.session.get(User, owner_id)
        assert owner is not None
        old_id = create_link(owner, url="https://example.com/", slug="reused", max_visits=1).id
    assert client.get("/reused").status_code == 302
    assert client.get("/reused").status_code == 410
    with app.app_context():
        old = db.session.get(Link, old_id)
        assert old is not None
        delete_link(old)
        owner = db.session.get(User, owner_id)
        assert owner is not None
        new = create_link(owner, url="https://example.org/", slug="reused", max_visits=1)
        assert visits.visit_count(new.id) == 0
    assert client.get("/reused").status_code == 302
