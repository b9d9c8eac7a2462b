"""The factory and the LinkFleet request/response classes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from service import create_app
from service.app import LinkFleet, LinkFleetRequest, LinkFleetResponse, is_private_address
from service.extensions.redis_client import RedisClient


def test_factory_builds_a_linkfleet_app(app: Flask) -> None:
    assert isinstance(app, LinkFleet)
    assert app.request_class is LinkFleetRequest
    assert app.response_class is LinkFleetResponse
    for name in ("linkfleet.redis", "linkfleet.logging", "linkfleet.sessions", "sqlalchemy"):
        assert name in app.extensions


def test_extensions_are_registered_in_one_ordered_list(app: Flask) -> None:
    from service.analytics.extension import analytics
    from service.extensions import database, json_logging, login, redis_client, sessions
    from service.links.cache import link_cache

    assert isinstance(app, LinkFleet)
    order = list(app.registered_extensions)
    assert order[:3] == [json_logging, redis_client, sessions]  # logging, then Redis users
    assert order.index(database) < order.index(link_cache) < order.index(analytics)
    assert order[-1] is login


def test_shutdown_stops_every_extension(app: Flask, client: FlaskClient) -> None:
    """One call stops the link cache's listener and closes the app's Redis connections."""
    from service.extensions import redis_client
    from service.links.cache import link_cache
    from tests.fixtures.services import wait_until

    assert isinstance(app, LinkFleet)
    client.get("/anything")
    wait_until(lambda: link_cache.listening(app), 5, "the invalidation listener subscribed")
    with app.app_context():
        redis_client.client.ping()
    connections = RedisClient.for_app(app).connection_pool._available_connections
    assert any(connection._sock is not None for connection in connections)
    app.shutdown()
    assert link_cache.state(app).listener is None
    assert not link_cache.listening(app)
    assert all(connection._sock is None for connection in connections)


def test_extensions_refuse_double_registration(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="already registered"):
        RedisClient(app)


def test_factory_connects_to_nothing() -> None:
    """Nothing listens on port 1: building the app must not notice."""
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        }
    )
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:1/0"


def test_every_response_is_stamped(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "req-0123456789"})
    assert response.headers["X-Served-By"] == "test-replica"
    assert response.headers["X-Request-ID"] == "req-0123456789"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_only_over_https(client: FlaskClient) -> None:
    response = client.get("/healthz", base_url="https://links.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("bad", ["", "short", "x" * 200, "with space 12345", "<script>12"])
def test_malformed_request_ids_are_replaced(client: FlaskClient, bad: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    generated = response.headers["X-Request-ID"]
    assert generated != bad
    assert len(generated) == 32


def test_error_pages_are_stamped_too(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["X-Served-By"] == "test-replica"
    assert b"404" in response.data
    assert response.mimetype == "text/html"


def test_unknown_api_routes_get_problem_details(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here", headers={"X-Request-ID": "req-abcdefgh"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.data)
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["request_id"] == "req-abcdefgh"


def test_json_clients_get_problem_details(client: FlaskClient) -> None:
    response = client.get("/missing", headers={"Accept": "application/json"})
    assert response.mimetype == "application/problem+json"


def test_wrong_method_is_405_not_500(client: FlaskClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_unexpected_exceptions_become_a_friendly_500(app: Flask) -> None:
    @app.get("/__explode")
    def explode() -> str:
        raise RuntimeError("boom")

    response = app.test_client().get("/__explode")
    assert response.status_code == 500
    assert b"Traceback" not in response.data
    assert b"boom" not in response.data
    assert response.headers["X-Served-By"] == "test-replica"


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        # Only the hop nginx appended counts; the client's own claim is ignored.
        ("127.0.0.1", "1.2.3.4, 203.0.113.9", "203.0.113.9"),
        # Not from a trusted proxy: the header is the client's word, ignored.
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),
        ("127.0.0.1", "garbage", "127.0.0.1"),
        ("127.0.0.1", "", "127.0.0.1"),
    ],
)
def test_client_ip_takes_one_trusted_hop(
    app: Flask, remote: str, forwarded: str, expected: str
) -> None:
    environ = {"REMOTE_ADDR": remote}
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with app.test_request_context("/", environ_base=environ, headers=headers):
        assert request.client_ip == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("192.168.1.1", True),
        ("8.8.8.8", False),
        ("203.0.113.5", False),
        ("::ffff:10.0.0.1", True),
        ("2001:4860:4860::8888", False),
        ("not-an-ip", False),
        (None, False),
    ],
)
def test_private_address_detection(address: str | None, private: bool) -> None:
    assert is_private_address(address) is private


def test_landing_page(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"LinkFleet" in response.data
    assert b"test-replica" in response.data


def test_responses_are_stamped_without_overriding_process_response(client: FlaskClient) -> None:
    """Flask's next release passes a ``ctx`` to ``process_response`` and warns about overrides
    without it: the stamp is an ``after_request`` hook, on error pages and static files too."""
    assert "process_response" not in LinkFleet.__dict__
    for path in ("/no-such-link", "/static/linkfleet.css"):
        response = client.get(path, headers={"X-Request-ID": "req-0123456789"})
        assert response.headers["X-Served-By"] == "test-replica"
        assert response.headers["X-Request-ID"] == "req-0123456789"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()


def test_a_views_own_security_header_wins(app: Flask) -> None:
    @app.get("/framed-test")
    def framed() -> Any:
        return "ok", 200, {"X-Frame-Options": "SAMEORIGIN"}

    response = app.test_client().get("/framed-test")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
