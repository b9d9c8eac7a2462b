"""End-to-end: the same ``Idempotency-Key`` sent to two replicas at once makes one link.

A real fleet (supervisord, nginx, two gevent replicas, Redis, SQLite) in a temp dir; the user
and the key are made with the ``linkfleet`` CLI, as an operator would.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
import requests

from tests.fixtures.fleets import Fleet

pytestmark = pytest.mark.e2e

EMAIL = "e2e-api@example.com"


@pytest.fixture(scope="module")
def api_key(fleet: Fleet) -> str:
    fleet.create_user(EMAIL, "an e2e api password")
    key = fleet.api_key(EMAIL, "e2e")
    assert key.startswith("lf_")
    return key


def test_concurrent_retries_on_two_replicas_make_one_link(fleet: Fleet, api_key: str) -> None:
    replicas = fleet.spec.replicas
    assert len(replicas) == 2
    targets = [f"http://127.0.0.1:{port}" for port in replicas.values()] * 4 + [fleet.url] * 4
    barrier = threading.Barrier(len(targets))
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Idempotency-Key": str(uuid.uuid4()),
        "Connection": "close",
    }
    payload = {"url": "https://example.com/fleet-once", "title": "one link, two replicas"}
    results: list[tuple[int, str, str, str]] = []
    lock = threading.Lock()

    def send(base: str) -> None:
        barrier.wait(15)
        response = requests.post(f"{base}/api/v1/links", json=payload, headers=headers, timeout=60)
        with lock:
            results.append(
                (
                    response.status_code,
                    response.json().get("slug", ""),
                    response.headers.get("X-Served-By", ""),
                    response.headers.get("Idempotent-Replayed", ""),
                )
            )

    threads = [threading.Thread(target=send, args=(base,)) for base in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    assert len(results) == len(targets)
    assert Counter(status for status, _, _, _ in results) == {201: len(targets)}, results
    assert len({slug for _, slug, _, _ in results}) == 1
    assert {served_by for _, _, served_by, _ in results} == set(replicas)
    assert sum(1 for *_, replayed in results if replayed != "true") == 1

    listed = requests.get(
        f"{fleet.url}/api/v1/links",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert listed.status_code == 200
    assert listed.headers["X-Total-Count"] == "1"
    slug = results[0][1]
    assert (
        requests.get(f"{fleet.url}/{slug}", allow_redirects=False, timeout=10).headers["Location"]
        == "https://example.com/fleet-once"
    )


def test_docs_and_spec_through_nginx(fleet: Fleet) -> None:
    spec = requests.get(f"{fleet.url}/api/openapi.json", timeout=10)
    assert spec.status_code == 200
    assert "/api/v1/links" in spec.json()["paths"]
    docs = requests.get(f"{fleet.url}/api/docs", timeout=10)
    assert docs.status_code == 200
    bundle = requests.get(f"{fleet.url}/api/docs/assets/swagger-ui-bundle.js", timeout=10)
    assert bundle.status_code == 200
    assert len(bundle.content) > 500_000
