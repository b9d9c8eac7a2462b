"""``Idempotency-Key``: replays, conflicts, and concurrent retries against a real server."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from service.extensions import db
from service.links.models import Link
from tests.api.conftest import assert_problem
from tests.fixtures.accounts import Account, ApiClient


def count_links(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(Link.id))) or 0)


def test_a_retry_replays_the_first_response(api: ApiClient, app: Flask) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    payload = {"url": "https://example.com/once"}
    first = api.post("/api/v1/links", json=payload, headers=headers)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    second = api.post("/api/v1/links", json=payload, headers=headers)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert count_links(app) == 1
    # without the header, the same body makes a second link
    assert api.post("/api/v1/links", json=payload).status_code == 201
    assert count_links(app) == 2


def test_the_same_key_with_another_body_is_422(api: ApiClient) -> None:
    headers = {"Idempotency-Key": "order-1"}
    assert (
        api.post("/api/v1/links", json={"url": "https://a.example/"}, headers=headers).status_code
        == 201
    )
    response = api.post("/api/v1/links", json={"url": "https://b.example/"}, headers=headers)
    body = assert_problem(response, 422)
    assert "Idempotency-Key" in body["errors"]


def test_keys_are_per_api_key(api: ApiClient, bob: Account, app: Flask) -> None:
    headers = {"Idempotency-Key": "shared-name"}
    payload = {"url": "https://example.com/"}
    assert api.post("/api/v1/links", json=payload, headers=headers).status_code == 201
    other = api.post("/api/v1/links", key=bob.key, json=payload, headers=headers)
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert count_links(app) == 2


def test_errors_of_the_view_are_replayed_too(api: ApiClient, bob: Account) -> None:
    api.create(slug="taken")
    headers = {"Idempotency-Key": "k-409"}
    payload = {"url": "https://example.com/", "slug": "taken"}
    first = api.post("/api/v1/links", key=bob.key, json=payload, headers=headers)
    assert_problem(first, 409)
    second = api.post("/api/v1/links", key=bob.key, json=payload, headers=headers)
    assert_problem(second, 409)
    assert second.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("value", ["", "with space", "x" * 256, "é"])
def test_malformed_idempotency_keys_are_400(api: ApiClient, value: str) -> None:
    response = api.post(
        "/api/v1/links",
        json={"url": "https://example.com/"},
        headers={"Idempotency-Key": value.encode("utf-8").decode("latin-1")},
    )
    body = assert_problem(response, 400)
    assert "Idempotency-Key" in body["errors"]


def test_a_request_still_in_flight_gets_409_after_waiting(api: ApiClient, app: Flask) -> None:
    from service.api import idempotency
    from service.extensions import redis_client

    app.config["API_IDEMPOTENCY_WAIT"] = 0.2
    headers = {"Idempotency-Key": "slow-one"}
    payload = {"url": "https://example.com/"}
    with app.test_request_context("/api/v1/links", method="POST", json=payload, headers=headers):
        from flask import g

        from service.api.keys import find_active_key

        g.api_key = find_active_key(api.account.key)
        record = idempotency._record_key("slow-one")
        fingerprint = idempotency._fingerprint()
        redis_client.client.set(
            record,
            f'{{"state": "pending", "token": "other", "fingerprint": "{fingerprint}"}}',
            ex=30,
        )
    response = api.post("/api/v1/links", json=payload, headers=headers)
    body = assert_problem(response, 409)
    assert int(response.headers["Retry-After"]) >= 1  # ours, or the rate window's (Flask-Limiter)
    assert "Idempotency-Key" in body["errors"]
    assert count_links(app) == 0


def test_concurrent_retries_against_a_live_server_make_one_link(
    live_server: str, alice: Account, app: Flask
) -> None:
    """Twelve clients send the same POST at the same moment: one link, twelve equal answers."""
    clients = 12
    barrier = threading.Barrier(clients)
    results: list[tuple[int, dict[str, Any], str]] = []
    lock = threading.Lock()
    headers = {**alice.auth, "Idempotency-Key": str(uuid.uuid4())}
    payload = {"url": "https://example.com/concurrent", "title": "once"}

    def send() -> None:
        with requests.Session() as session:
            barrier.wait(10)
            response = session.post(
                f"{live_server}/api/v1/links", json=payload, headers=headers, timeout=30
            )
            with lock:
                results.append(
                    (
                        response.status_code,
                        response.json(),
                        response.headers.get("Idempotent-Replayed", ""),
                    )
                )

    threads = [threading.Thread(target=send) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == clients
    assert Counter(status for status, _, _ in results) == {201: clients}, results
    assert len({body["slug"] for _, body, _ in results}) == 1
    assert sum(1 for _, _, replayed in results if replayed != "true") == 1
    assert count_links(app) == 1
