"""End-to-end through nginx with two replicas: cache invalidation, visit limits, expiry and
redirect types, exactly as a visitor on any replica sees them."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.fixtures.fleets import Fleet

pytestmark = pytest.mark.e2e


def _create(fleet: Fleet, fleet_api: requests.Session, **fields: Any) -> str:
    response = fleet_api.post(f"{fleet.url}/api/v1/links", json=fields, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["slug"])


def _replica_urls(fleet: Fleet) -> list[str]:
    return [f"http://127.0.0.1:{port}" for port in fleet.spec.replicas.values()]


def _location(base: str, slug: str) -> tuple[int, str]:
    response = requests.get(f"{base}/{slug}", allow_redirects=False, timeout=5)
    return response.status_code, response.headers.get("Location", "")


def _within(seconds: float, check: Any) -> float:
    """Seconds until ``check()`` holds; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not true within {seconds} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_an_edit_reaches_every_replica_within_a_second(
    fleet: Fleet, fleet_api: requests.Session
) -> None:
    one, two = _replica_urls(fleet)
    slug = _create(fleet, fleet_api, url="https://example.org/before")
    for base in (one, two):  # both replicas hold the old target in L1 now
        assert _location(base, slug) == (302, "https://example.org/before")
    patched = requests.patch(
        f"{one}/api/v1/links/{slug}",
        json={"url": "https://example.org/after"},
        headers=fleet_api.headers,
        timeout=5,
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["X-Served-By"] == "replica-1"
    _within(1.0, lambda: _location(two, slug) == (302, "https://example.org/after"))
    assert _location(one, slug) == (302, "https://example.org/after")


def test_a_delete_is_404_everywhere_within_a_second(
    fleet: Fleet, fleet_api: requests.Session
) -> None:
    one, two = _replica_urls(fleet)
    slug = _create(fleet, fleet_api, url="https://example.org/doomed")
    for base in (one, two):
        assert _location(base, slug)[0] == 302
    deleted = requests.delete(f"{two}/api/v1/links/{slug}", headers=fleet_api.headers, timeout=5)
    assert deleted.status_code == 204
    _within(1.0, lambda: _location(one, slug)[0] == 404)
    assert _location(two, slug)[0] == 404


def test_max_visits_holds_over_replicas_under_concurrency(
    fleet: Fleet, fleet_api: requests.Session
) -> None:
    slug = _create(fleet, fleet_api, url="https://example.org/limited", max_visits=5)

    def visit(_: int) -> tuple[int, str]:
        response = requests.get(f"{fleet.url}/{slug}", allow_redirects=False, timeout=10)
        return response.status_code, response.headers["X-Served-By"]

    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(visit, range(50)))
    statuses = Counter(status for status, _ in results)
    assert statuses == {302: 5, 410: 45}
    assert {replica for _, replica in results} == {"replica-1", "replica-2"}


def test_expired_links_are_gone(fleet: Fleet, fleet_api: requests.Session) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    slug = _create(fleet, fleet_api, url="https://example.org/short-lived", expires_at=soon)
    assert _location(fleet.url, slug)[0] == 302
    time.sleep(2.2)
    for base in _replica_urls(fleet):
        assert _location(base, slug)[0] == 410


@pytest.mark.parametrize("redirect_type", [301, 302, 307, 308])
def test_each_redirect_type_through_nginx(
    fleet: Fleet, fleet_api: requests.Session, redirect_type: int
) -> None:
    slug = _create(fleet, fleet_api, url="https://example.org/typed", redirect_type=redirect_type)
    assert _location(fleet.url, slug) == (redirect_type, "https://example.org/typed")
