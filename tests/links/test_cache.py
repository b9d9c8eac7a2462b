"""The two-tier link cache: tiers, invalidation across replicas, Redis outages."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from service.extensions import db
from service.links.cache import INVALIDATE_CHANNEL, KEY_PREFIX, LinkCache, LinkRecord, link_cache
from service.links.models import Link
from service.links.services import create_link, delete_link, update_link
from tests.fixtures.app import QueryCounter
from tests.fixtures.links import quiesce_link_cache
from tests.fixtures.replicas import ReplicaFactory
from tests.fixtures.services import RedisServer, wait_until
from tests.fixtures.users import UserFactory

pytestmark = pytest.mark.integration

OLD, NEW = "https://old.example/", "https://new.example/"


def new_link(app: Flask, make_user: UserFactory, **fields: Any) -> str:
    fields.setdefault("url", OLD)
    with app.app_context():
        return create_link(make_user(), **fields).slug


def change(app: Flask, slug: str, /, **changes: Any) -> None:
    with app.app_context():
        update_link(db.session.scalars(select(Link).filter_by(slug=slug)).one(), **changes)


def remove(app: Flask, slug: str) -> None:
    with app.app_context():
        delete_link(db.session.scalars(select(Link).filter_by(slug=slug)).one())


class LogRecorder(logging.Handler):
    """Collects the messages of one logger (ours do not propagate to pytest's root handler)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.logger = logging.getLogger(name)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def close(self) -> None:
        self.logger.removeHandler(self)
        super().close()


def wait_for_listener(app: Flask) -> None:
    wait_until(lambda: link_cache.listening(app), 5, "the invalidation listener subscribed")


def settle(app: Flask) -> None:
    """Wait for the delayed second invalidations ``app`` has scheduled."""
    state = link_cache.state(app)
    wait_until(lambda: state.timer is None and not state.pending, 5, "re-invalidations ran")


def caught_up(writer: Flask, reader: Flask) -> None:
    """Wait until ``writer``'s invalidations, its delayed second ones included, have reached
    ``reader``'s listener. No clock is asserted here: how fast that is through a real fleet
    is ``tests/e2e/test_links_fleet.py``'s (within a second)."""
    settle(writer)
    quiesce_link_cache(reader)


def test_init_app_refuses_double_registration(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="already registered"):
        link_cache.init_app(app)
    with pytest.raises(RuntimeError, match="already registered"):
        LinkCache(app)


def test_the_listener_starts_with_the_first_lookup_not_before(
    app: Flask, client: FlaskClient
) -> None:
    state = link_cache.state(app)
    assert state.listener is None
    client.get("/anything")
    wait_for_listener(app)
    assert state.listener is not None
    assert state.listener.daemon


def test_l2_holds_json_and_negative_entries_are_short(
    app: Flask, client: FlaskClient, make_user: UserFactory, redis_server: RedisServer
) -> None:
    slug = new_link(app, make_user, redirect_type=301, max_visits=4)
    quiesce_link_cache(app)  # the creation's delayed invalidation would delete the L2 fill
    client.get(f"/{slug}")
    client.get("/unknown-slug")
    raw = redis.Redis.from_url(redis_server.url)
    stored = json.loads(raw.get(KEY_PREFIX + slug) or b"null")
    assert LinkRecord.from_wire(stored) == LinkRecord(
        slug=slug,
        url=OLD,
        redirect_type=301,
        expires_at=None,
        max_visits=4,
        password_hash=None,
        disabled=False,
    )
    assert raw.get(KEY_PREFIX + "unknown-slug") == b"0"
    assert 0 < raw.ttl(KEY_PREFIX + "unknown-slug") <= 5
    assert 500 < raw.ttl(KEY_PREFIX + slug) <= 600


def test_garbage_in_l2_is_a_miss(
    app: Flask, client: FlaskClient, make_user: UserFactory, redis_server: RedisServer
) -> None:
    slug = new_link(app, make_user)
    raw = redis.Redis.from_url(redis_server.url)
    raw.set(KEY_PREFIX + slug, b"\x80\x04not json")
    assert client.get(f"/{slug}").headers["Location"] == OLD
    raw.set(KEY_PREFIX + slug, b'[99,"from the future"]')
    link_cache.state(app).clear()
    assert client.get(f"/{slug}").headers["Location"] == OLD


def test_l1_is_bounded(app: Flask, make_user: UserFactory, replica_factory: ReplicaFactory) -> None:
    replica = replica_factory("small", LINK_CACHE_L1_SIZE=3)
    small = replica.test_client()
    slugs = [new_link(app, make_user) for _ in range(5)]
    caught_up(app, replica)  # no late re-invalidation of a creation evicts what is counted
    for slug in slugs:
        assert small.get(f"/{slug}").status_code == 302
    assert len(link_cache.state(replica).l1) == 3


def test_an_edit_reaches_every_replica(
    app: Flask, make_user: UserFactory, replica_factory: ReplicaFactory
) -> None:
    one, two = app.test_client(), replica_factory("replica-2").test_client()
    replica_two = two.application
    slug = new_link(app, make_user)
    two.get("/warm-up")
    wait_for_listener(replica_two)
    settle(app)
    assert one.get(f"/{slug}").headers["Location"] == OLD
    assert two.get(f"/{slug}").headers["Location"] == OLD
    assert slug in link_cache.state(replica_two).l1  # replica 2 would serve it from memory

    change(app, slug, url=NEW)
    caught_up(app, replica_two)
    assert two.get(f"/{slug}").headers["Location"] == NEW
    assert one.get(f"/{slug}").headers["Location"] == NEW

    remove(app, slug)
    caught_up(app, replica_two)
    assert two.get(f"/{slug}").status_code == 404
    assert one.get(f"/{slug}").status_code == 404


def test_a_new_link_replaces_a_negative_entry_everywhere(
    app: Flask, make_user: UserFactory, replica_factory: ReplicaFactory
) -> None:
    two = replica_factory("replica-2").test_client()
    assert two.get("/brand-new").status_code == 404  # negative entry in L1 and L2
    wait_for_listener(two.application)
    new_link(app, make_user, slug="brand-new")
    caught_up(app, two.application)
    assert two.get("/brand-new").status_code == 302


def test_a_renamed_link_frees_its_old_slug_everywhere(
    app: Flask, make_user: UserFactory, replica_factory: ReplicaFactory
) -> None:
    two = replica_factory("replica-2").test_client()
    slug = new_link(app, make_user)
    assert two.get(f"/{slug}").status_code == 302
    assert two.get("/renamed").status_code == 404
    wait_for_listener(two.application)
    change(app, slug, slug="renamed")
    caught_up(app, two.application)
    assert two.get(f"/{slug}").status_code == 404
    assert two.get("/renamed").status_code == 302


def test_a_stale_l2_write_that_raced_an_edit_is_removed(
    app: Flask,
    make_user: UserFactory,
    replica_factory: ReplicaFactory,
    redis_server: RedisServer,
) -> None:
    """A reader that loaded the old row before the commit writes it back after the delete."""
    two = replica_factory("replica-2").test_client()
    slug = new_link(app, make_user)
    stale = json.dumps(
        LinkRecord(slug, OLD, 302, None, None, None, False).to_wire(), separators=(",", ":")
    )
    assert two.get(f"/{slug}").status_code == 302
    wait_for_listener(two.application)
    change(app, slug, url=NEW)
    raw = redis.Redis.from_url(redis_server.url)
    raw.set(KEY_PREFIX + slug, stale)  # the racing reader, just after the first delete
    link_cache.state(two.application).clear()  # ... and replica 2 reads it into L1
    assert two.get(f"/{slug}").headers["Location"] == OLD
    caught_up(app, two.application)  # the delayed second invalidation removes what it wrote
    assert raw.get(KEY_PREFIX + slug) != stale.encode()
    assert two.get(f"/{slug}").headers["Location"] == NEW


def test_invalidations_are_published(
    app: Flask, make_user: UserFactory, redis_server: RedisServer
) -> None:
    pubsub = redis.Redis.from_url(redis_server.url).pubsub()
    pubsub.subscribe(INVALIDATE_CHANNEL)
    wait_until(lambda: pubsub.get_message(timeout=0.1) is not None, 5, "subscribed")
    slug = new_link(app, make_user)
    change(app, slug, title="new title")
    seen: list[bytes] = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message and message["type"] == "message":
            seen.append(message["data"])
    pubsub.close()
    # Create and update at once, then one more time after the delay: once for both when the
    # update came within the delay of the create, else once each (a slow machine).
    assert set(seen) == {slug.encode()}
    assert len(seen) in (3, 4)


def test_second_invalidations_share_one_timer(app: Flask, redis_server: RedisServer) -> None:
    state = link_cache.state(app)
    pubsub = redis.Redis.from_url(redis_server.url).pubsub()
    pubsub.subscribe(INVALIDATE_CHANNEL)
    wait_until(lambda: pubsub.get_message(timeout=0.1) is not None, 5, "subscribed")
    with app.app_context():
        link_cache.invalidate("one")
        timer = state.timer
        link_cache.invalidate("two", "three")
        assert state.timer is timer
        assert set(state.pending) == {"one", "two", "three"}
    settle(app)
    seen: list[bytes] = []
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        if message["type"] == "message":
            seen.append(message["data"])
    pubsub.close()
    assert seen == [b"one", b"three", b"two", b"one", b"three", b"two"]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, which the test may stop and start."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def outage_app(private_redis: RedisServer, replica_factory: ReplicaFactory) -> Flask:
    """A replica on ``private_redis`` sharing ``app``'s database (and its tables)."""
    return replica_factory("outage", REDIS_URL=private_redis.url, LINK_CACHE_REINVALIDATE_DELAY=0)


def test_redirects_survive_a_redis_outage(
    outage_app: Flask,
    private_redis: RedisServer,
    make_user: UserFactory,
    app: Flask,
) -> None:
    warnings = LogRecorder("service.links.cache")
    client = outage_app.test_client()
    slug = new_link(outage_app, make_user)
    other = new_link(outage_app, make_user)
    assert client.get(f"/{slug}").status_code == 302
    wait_for_listener(outage_app)
    limited = new_link(outage_app, make_user, max_visits=5)

    private_redis.stop()
    started = time.monotonic()
    response = client.get(f"/{slug}")  # from L1
    assert (response.status_code, response.headers["Location"]) == (302, OLD)
    response = client.get(f"/{other}")  # never cached: from the database
    assert (response.status_code, response.headers["Location"]) == (302, OLD)
    assert client.get("/never-existed").status_code == 404
    assert time.monotonic() - started < 2, "an outage must not make redirects wait"
    # A visit limit cannot be checked without Redis: refuse rather than over-serve.
    response = client.get(f"/{limited}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    wait_until(lambda: not link_cache.listening(outage_app), 5, "the listener noticed")
    warnings.close()
    logged = " | ".join(warnings.messages)
    assert "could not read from Redis" in logged
    assert "invalidation listener lost Redis" in logged

    private_redis.start()  # same port: the listener resubscribes and starts afresh
    wait_until(lambda: link_cache.listening(outage_app), 10, "the listener resubscribed")
    assert len(link_cache.state(outage_app).l1) == 0
    link_cache.state(outage_app).l2_retry_at = 0  # skip the rest of the back-off
    assert client.get(f"/{limited}").status_code == 302


def test_writes_during_an_outage_still_commit(
    outage_app: Flask, private_redis: RedisServer, make_user: UserFactory
) -> None:
    slug = new_link(outage_app, make_user)
    private_redis.stop()
    change(outage_app, slug, url=NEW)  # the invalidation fails, the edit does not
    remove(outage_app, slug)
    with outage_app.app_context():
        assert db.session.scalars(select(Link).filter_by(slug=slug)).first() is None


def test_concurrent_lookups_cost_at_most_one_query_each(
    app: Flask, make_user: UserFactory, count_queries: QueryCounter
) -> None:
    slugs = [new_link(app, make_user) for _ in range(4)]
    quiesce_link_cache(app)  # invalidations in flight would evict fills: more queries
    count_queries.statements.clear()
    errors: list[BaseException] = []

    def worker() -> None:
        client = app.test_client()
        try:
            for _ in range(10):
                for slug in slugs:
                    assert client.get(f"/{slug}").status_code == 302
        except BaseException as error:  # surfaced below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_queries.count <= len(slugs) * len(threads)


def test_lookups_are_counted_by_the_tier_that_answered(app: Flask, make_user: Any) -> None:
    """The cache-hit metric the Grafana dashboard reads moves with each tier."""
    from service.extensions.metrics import LINK_CACHE_LOOKUPS
    from service.links.cache import link_cache
    from service.links.services import create_link

    def count(tier: str) -> float:
        return LINK_CACHE_LOOKUPS.labels(tier)._value.get()  # type: ignore[attr-defined]

    with app.app_context():
        slug = create_link(make_user(), url="https://example.org/counted").slug
        link_cache.lookup("warm-up")  # starts the listener
        time.sleep(1.0)  # let the creation's delayed re-invalidation pass
        before = {tier: count(tier) for tier in ("l1", "l2", "db", "negative")}
        link_cache.lookup(slug)  # first: the database
        link_cache.lookup(slug)  # then L1
        link_cache.lookup("nosuchslug")  # database, remembered as negative
        link_cache.lookup("nosuchslug")  # negative L1 entry
        link_cache.state(app).l1.clear()
        link_cache.lookup(slug)  # L1 forgot it, L2 still has it
    assert count("db") - before["db"] == 2
    assert count("l1") - before["l1"] == 1
    assert count("negative") - before["negative"] == 1
    assert count("l2") - before["l2"] == 1


def test_a_created_slug_answers_at_once_on_every_replica(
    app: Flask, make_user: UserFactory, replica_factory: ReplicaFactory
) -> None:
    """No waiting for pub/sub: the moment the create call returns, replica 2 redirects."""
    two = replica_factory("replica-2").test_client()
    two.get("/warm-up")
    wait_for_listener(two.application)
    for number in range(20):
        slug = f"fresh-{number}"
        assert two.get(f"/{slug}").status_code == 404
        assert slug not in link_cache.state(two.application).l1  # no negative entry in L1
        new_link(app, make_user, slug=slug)
        assert two.get(f"/{slug}").status_code == 302


def test_a_fill_that_raced_a_creation_is_refused(
    app: Flask,
    make_user: UserFactory,
    replica_factory: ReplicaFactory,
    redis_server: RedisServer,
) -> None:
    """A reader whose query ran before the commit cannot write "no such link" afterwards."""
    two = replica_factory("replica-2")
    state = link_cache.state(two)
    with two.app_context():
        seen = state._generation()
        assert state._from_db("racy") is None  # the reader's query, before the link exists
    new_link(app, make_user, slug="racy")
    state._to_l2("racy", None, seen or "")  # ... and its fill, after the call returned
    raw = redis.Redis.from_url(redis_server.url)
    assert raw.get(KEY_PREFIX + "racy") is None
    assert two.test_client().get("/racy").status_code == 302
    quiesce_link_cache(app)  # the creation's delayed invalidation is no race of this fill
    with two.app_context():  # an unraced fill still works
        fresh = state._generation()
    state._to_l2("racy-free", None, fresh or "")
    assert raw.get(KEY_PREFIX + "racy-free") == b"0"
