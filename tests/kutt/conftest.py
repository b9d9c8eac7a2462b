"""A Flask test client speaking Kutt: ``X-API-Key`` with an account's key."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fixtures.accounts import Account


class KuttClient:
    """The test client on ``/api/v2`` with an API key in ``X-API-Key``."""

    def __init__(self, client: FlaskClient, account: Account) -> None:
        self.client = client
        self.account = account

    def request(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"X-API-Key": key if key is not None else self.account.key}
        headers.update(kwargs.pop("headers", {}))
        return self.client.open(f"/api/v2{path}", method=method, headers=headers, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.request("POST", "/links", json={"target": "https://example.com/", **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def kutt(client: FlaskClient, alice: Account) -> KuttClient:
    return KuttClient(client, alice)


def error_of(response: Any, status: int) -> str:
    """The response is a Kutt error with ``status``; returns its message."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]
