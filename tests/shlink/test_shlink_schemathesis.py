"""Property-based tests of the live Shlink API from its OpenAPI document (schemathesis), as
``tests/api/test_schemathesis.py`` does for ``/api``.

A real server (werkzeug, threaded) on real Redis and both databases, a real read-write key in
``X-Api-Key``, and a few short URLs with a tag so that generated short codes and tags
sometimes hit something. Every generated request, valid or not, must get a documented
status, content type, headers and body, and never a 5xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import requests
import schemathesis
from flask import Flask
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.fixtures.accounts import Account
from tests.fixtures.schemathesis_runs import CHECKS, MAX_EXAMPLES, run_operations

#: The operations answered without a key.
PUBLIC = {"/rest/health", "/rest/v3/health", "/rest/v3/openapi.json"}
#: Shlink's answer without a Mercure hub is a 501, always: the one documented 5xx.
MERCURE = "/rest/v3/mercure-info"
MERCURE_CHECKS = [check for check in CHECKS if check is not not_a_server_error]
#: short URLs 5, rules 2, visits 8, tags 4, domains 2, health 2, mercure (schemathesis leaves
#: out the document's own operation, the URL it was loaded from).
OPERATIONS = 24
NEGATIVE_EXAMPLES = 15
#: The operations with no parameter and no body: nothing a negative case could break.
WITHOUT_INPUT = {
    "GET /rest/health", "GET /rest/v3/health", "GET /rest/v3/mercure-info",
    "GET /rest/v3/domains", "GET /rest/v3/visits", "DELETE /rest/v3/visits/orphan",
}  # fmt: skip


@pytest.fixture
def shlink_schema(live_server: str, alice: Account, app: Flask) -> schemathesis.BaseSchema:
    app.config["API_READ_RATE_LIMIT"] = "100000 per minute"
    app.config["API_WRITE_RATE_LIMIT"] = "100000 per minute"
    app.config["API_AUTH_FAILURE_LIMIT"] = "100000 per minute"  # many unknown keys below
    for code in ("a", "abc", "0", "_", "-"):
        requests.post(
            f"{live_server}/rest/v3/short-urls",
            json={"longUrl": f"https://example.com/{code}", "customSlug": code, "tags": ["t"]},
            headers={"X-Api-Key": alice.key},
            timeout=10,
        ).raise_for_status()
    return schemathesis.openapi.from_url(f"{live_server}/rest/v3/openapi.json")


def counted(account: Account, statuses: Counter[int]) -> Callable[[schemathesis.Case], None]:
    """A case sent with ``account``'s key and checked, its status counted (``mercure-info``'s
    documented 501 is checked apart and not counted)."""

    def call(case: schemathesis.Case) -> None:
        checks = MERCURE_CHECKS if case.path == MERCURE else CHECKS
        response = case.call_and_validate(
            headers={"X-Api-Key": account.key}, checks=checks, timeout=30
        )
        if case.path == MERCURE:
            assert response.status_code == 501
            return
        statuses[response.status_code] += 1

    return call


def test_shlink_api_conforms_to_its_spec(
    shlink_schema: schemathesis.BaseSchema, alice: Account
) -> None:
    statuses: Counter[int] = Counter()

    assert run_operations(shlink_schema, MAX_EXAMPLES, counted(alice, statuses)) == OPERATIONS
    print(f"\nschemathesis: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert sum(statuses.values()) >= 100
    assert not any(status >= 500 for status in statuses)
    assert statuses[200]
    assert statuses[400]


def test_shlink_api_answers_what_its_spec_forbids_without_a_5xx(
    shlink_schema: schemathesis.BaseSchema, alice: Account
) -> None:
    """Negative cases (wrong types, out-of-range numbers, bodies that are no object ...): a
    documented answer, a 400 among them, never a 5xx."""
    statuses: Counter[int] = Counter()
    call = counted(alice, statuses)

    negated = run_operations(shlink_schema, NEGATIVE_EXAMPLES, call, GenerationMode.NEGATIVE)
    assert negated == OPERATIONS - len(WITHOUT_INPUT)
    print(f"\nschemathesis negative: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert not any(status >= 500 for status in statuses), statuses
    assert statuses[400]


def test_shlink_api_with_an_unknown_key_is_401_and_conforms(
    shlink_schema: schemathesis.BaseSchema,
) -> None:
    def call(case: schemathesis.Case) -> None:
        response = case.call(headers={"X-Api-Key": "lf_nokey123_" + "x" * 43}, timeout=30)
        case.validate_response(response, checks=CHECKS)
        if case.path not in PUBLIC:
            assert response.status_code == 401, (case.method, case.path, response.text)

    assert run_operations(shlink_schema, 5, call) == OPERATIONS
