"""Helpers of the YOURLS API tests: a client that speaks ``/yourls-api.php``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fixtures.accounts import Account

API = "/yourls-api.php"


class YourlsClient:
    """GETs or POSTs parameters to ``/yourls-api.php`` with an account's key as signature."""

    def __init__(self, client: FlaskClient, account: Account) -> None:
        self.client = client
        self.account = account

    def get(self, **params: Any) -> Any:
        return self.client.get(API, query_string=params)

    def post(self, **params: Any) -> Any:
        return self.client.post(API, data=params)

    def call(self, *, signature: str | None = None, **params: Any) -> Any:
        """A signed JSON call; returns the response (``.json`` decodes the body)."""
        params.setdefault("format", "json")
        return self.get(signature=signature or self.account.key, **params)


def body(response: Any) -> dict[str, Any]:
    """The JSON body, keys in the order they were sent."""
    return json.loads(response.get_data(as_text=True))  # type: ignore[no-any-return]


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Room for the failed logins these tests make on purpose; the test of the budget sets
    its own limit."""
    return {"API_AUTH_FAILURE_LIMIT": "1000 per minute"}


@pytest.fixture
def yourls(client: FlaskClient, alice: Account) -> YourlsClient:
    return YourlsClient(client, alice)
