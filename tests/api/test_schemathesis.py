"""Property-based tests of the live API from its own OpenAPI document (schemathesis).

A real server (werkzeug, threaded) on real Redis and both databases, a real read-write key,
and a few links so that generated slugs sometimes hit something. Every generated request —
valid or not — must get a documented status, content type, headers and body, and never a 5xx.
Examples are bounded so that the run stays short in CI.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
import schemathesis
from flask import Flask

from tests.fixtures.accounts import Account
from tests.fixtures.schemathesis_runs import CHECKS, MAX_EXAMPLES, run_operations


@pytest.fixture
def api_schema(live_server: str, alice: Account, app: Flask) -> schemathesis.BaseSchema:
    app.config["API_READ_RATE_LIMIT"] = "100000 per minute"
    app.config["API_WRITE_RATE_LIMIT"] = "100000 per minute"
    app.config["API_AUTH_FAILURE_LIMIT"] = "100000 per minute"  # many unknown keys below
    for slug in ("a", "abc", "0", "_", "-"):
        requests.post(
            f"{live_server}/api/v1/links",
            json={"url": f"https://example.com/{slug}", "slug": slug, "tags": ["t"]},
            headers=alice.auth,
            timeout=10,
        ).raise_for_status()
    return schemathesis.openapi.from_url(f"{live_server}/api/openapi.json")


def test_api_conforms_to_its_spec(api_schema: schemathesis.BaseSchema, alice: Account) -> None:
    statuses: Counter[int] = Counter()

    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=alice.auth, checks=CHECKS, timeout=30)
        statuses[response.status_code] += 1

    # links 12, webhooks 7, visits 1, domains 5
    assert run_operations(api_schema, MAX_EXAMPLES, call) == 25
    print(f"\nschemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert sum(statuses.values()) >= 100
    assert not any(status >= 500 for status in statuses)
    assert statuses[200]
    assert statuses[422]


def test_api_without_a_key_is_401_and_conforms(api_schema: schemathesis.BaseSchema) -> None:
    def call(case: schemathesis.Case) -> None:
        response = case.call(
            headers={"Authorization": "Bearer lf_nokey123_" + "x" * 43}, timeout=30
        )
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == 401, (case.method, case.path, response.text)

    assert run_operations(api_schema, 5, call) == 25
