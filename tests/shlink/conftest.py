"""A Flask test client speaking Shlink: ``X-Api-Key`` with an account's key."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.fixtures.accounts import Account

SHLINK_ERRORS = "https://shlink.io/api/error/"


class ShlinkClient:
    """The test client on ``/rest/v3`` with an API key in ``X-Api-Key``."""

    def __init__(self, client: FlaskClient, account: Account) -> None:
        self.client = client
        self.account = account

    def request(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"X-Api-Key": key if key is not None else self.account.key}
        headers.update(kwargs.pop("headers", {}))
        return self.client.open(f"/rest/v3{path}", method=method, headers=headers, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.request(
            "POST", "/short-urls", json={"longUrl": "https://example.com/", **fields}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def shlink(client: FlaskClient, alice: Account) -> ShlinkClient:
    return ShlinkClient(client, alice)


def problem_of(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    """The response is a problem+json with ``status`` (and Shlink's ``type`` ``kind``)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    if kind is not None:
        assert body["type"] == SHLINK_ERRORS + kind, body
    return body
