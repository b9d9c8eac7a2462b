"""Fixtures of the API tests: users with keys, a client that sends them, a live server."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from service.accounts.models import User
from service.api.keys import create_api_key
from service.extensions import db


@pytest.fixture
def app(app: Flask) -> Iterator[Flask]:
    """The shared ``app`` fixture, with its link-cache listener stopped afterwards."""
    yield app
    app.shutdown()


@dataclass
class Account:
    id: int
    email: str
    key: str
    read_key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def read_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.read_key}"}


AccountFactory = Callable[..., Account]


@pytest.fixture
def make_account(app: Flask) -> AccountFactory:
    """Users (no password hashing cost) with a read-write and a read-only key."""
    numbers = itertools.count(1)

    def make(email: str | None = None, *, admin: bool = False) -> Account:
        with app.app_context():
            user = User(
                email=email or f"api{next(numbers)}@example.com",
                password_hash="!no-login",
                is_admin=admin,
            )
            db.session.add(user)
            db.session.commit()
            _, key = create_api_key(user.id, "tests", "write")
            _, read_key = create_api_key(user.id, "tests (read)", "read")
            return Account(user.id, user.email, key, read_key)

    return make


@pytest.fixture
def alice(make_account: AccountFactory) -> Account:
    return make_account("alice@example.com")


@pytest.fixture
def bob(make_account: AccountFactory) -> Account:
    return make_account("bob@example.com")


class ApiClient:
    """The Flask test client with an API key and JSON helpers."""

    def __init__(self, client: FlaskClient, account: Account) -> None:
        self.client = client
        self.account = account

    def request(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {
            "Authorization": f"Bearer {key or self.account.key}",
            **kwargs.pop("headers", {}),
        }
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.post("/api/v1/links", json={"url": "https://example.com/", **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]


@pytest.fixture
def api(client: FlaskClient, alice: Account) -> ApiClient:
    return ApiClient(client, alice)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """``app`` on a real socket (werkzeug's threaded server), stopped after the test."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="api-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "request_id"} <= set(body)
    return body  # type: ignore[no-any-return]
