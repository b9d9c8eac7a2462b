"""Liveness, readiness and metrics against real Redis and both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from tests.conftest import RedisServer


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_green_when_dependencies_answer(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"redis": "ok", "database": "ok"}}


def test_readyz_names_redis_when_it_stops_and_recovers(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": redis_server.url,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
        }
    )
    client = app.test_client()
    try:
        assert client.get("/readyz").status_code == 200
        redis_server.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        body = json.loads(response.data)
        assert body["failed"] == ["redis"]
        assert "redis" in body["errors"]
        redis_server.start()  # same port: the pool reconnects by itself
        assert client.get("/readyz").status_code == 200
    finally:
        redis_server.stop()


def test_readyz_names_the_database(redis_server: RedisServer) -> None:
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": redis_server.url,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none",
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert json.loads(response.data)["failed"] == ["database"]


def test_metrics_from_loopback(client: FlaskClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert b'linkfleet_http_requests_total{endpoint="ops.healthz"' in response.data


@pytest.mark.parametrize("forwarded", ["203.0.113.5", "8.8.8.8"])
def test_metrics_hidden_from_public_clients(app: Flask, forwarded: str) -> None:
    response = app.test_client().get(
        "/metrics",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
        headers={"X-Forwarded-For": forwarded},
    )
    assert response.status_code == 404


def test_metrics_hidden_from_direct_public_peers(app: Flask) -> None:
    response = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert response.status_code == 404
