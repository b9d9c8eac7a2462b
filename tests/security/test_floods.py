"""Floods a client chooses the rate of must not reach the database at that rate: unknown
slugs and invalid API keys are budgeted per client before the lookup."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import event

from service.accounts.models import User
from service.api.keys import create_api_key
from service.extensions import db
from service.links.cache import link_cache
from service.links.services import create_link
from tests.fixtures.app import QueryCounter
from tests.fixtures.replicas import ReplicaFactory
from tests.fixtures.services import wait_until
from tests.fixtures.users import add_user

pytestmark = pytest.mark.integration

ATTACKER = {"REMOTE_ADDR": "192.0.2.10"}
NEIGHBOUR = {"REMOTE_ADDR": "192.0.2.11"}


def owner(app: Flask) -> int:
    with app.app_context():
        return add_user("owner@example.com").id


def test_a_flood_of_unknown_slugs_costs_a_bounded_number_of_queries(
    app: Flask, replica_factory: ReplicaFactory
) -> None:
    limited = replica_factory("limited", LINK_NOT_FOUND_LIMIT="5 per minute")
    with app.app_context():
        user = db.session.get(User, owner(app))
        assert user is not None
        real = create_link(user, url="https://example.org/real").slug
        cold = create_link(user, url="https://example.org/cold").slug
    state = link_cache.state(app)  # the creations' second invalidations must pass first
    wait_until(lambda: state.timer is None and not state.pending, 5, "re-invalidations ran")
    attacker = limited.test_client()
    assert attacker.get(f"/{real}", environ_base=ATTACKER).status_code == 302  # now cached
    with limited.app_context():
        engine = db.engine
    counter = QueryCounter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        answers = [
            attacker.get(f"/made-up-{number}", environ_base=ATTACKER) for number in range(200)
        ]
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    assert [response.status_code for response in answers[:5]] == [404] * 5
    assert {response.status_code for response in answers[5:]} == {429}
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
    assert counter.about("links") == 5  # 200 made-up slugs, 5 queries
    # Real links still redirect: a cached one for the flooding client, any for others.
    assert attacker.get(f"/{real}", environ_base=ATTACKER).status_code == 302
    neighbour = limited.test_client()
    assert neighbour.get(f"/{cold}", environ_base=NEIGHBOUR).status_code == 302
    # Replicas share the budget: the attacker gets no fresh allowance on another one.
    other = replica_factory("other", LINK_NOT_FOUND_LIMIT="5 per minute").test_client()
    assert other.get("/made-up-again", environ_base=ATTACKER).status_code == 429


def test_the_same_unknown_slug_again_is_answered_from_the_cache(
    app: Flask, count_queries: QueryCounter
) -> None:
    client = app.test_client()
    for _ in range(50):
        assert client.get("/no-such-link", environ_base=ATTACKER).status_code == 404
    assert count_queries.about("links") == 1


def test_invalid_api_keys_are_budgeted_before_the_lookup(
    app: Flask, replica_factory: ReplicaFactory
) -> None:
    limited = replica_factory("limited", API_AUTH_FAILURE_LIMIT="3 per minute")
    with app.app_context():
        _, key = create_api_key(owner(app), "tests", "write")
    with limited.app_context():
        engine = db.engine
    counter = QueryCounter()
    client = limited.test_client()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        answers = [
            client.get(
                "/api/v1/links",
                headers={"Authorization": f"Bearer lf_g{number:07d}_{'x' * 43}"},
                environ_base=ATTACKER,
            )
            for number in range(50)
        ]
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    assert [response.status_code for response in answers[:3]] == [401] * 3
    assert {response.status_code for response in answers[3:]} == {429}
    last = answers[-1]
    assert last.mimetype == "application/problem+json"
    assert last.get_json()["status"] == 429
    assert 0 < int(last.headers["Retry-After"]) <= 60
    assert counter.about("api_keys") == 3  # 50 guesses, 3 lookups
    # Another client's valid key is not affected.
    fine = client.get(
        "/api/v1/links", headers={"Authorization": f"Bearer {key}"}, environ_base=NEIGHBOUR
    )
    assert fine.status_code == 200
