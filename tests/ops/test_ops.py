"""Liveness, readiness and metrics against real Redis and both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from tests.fixtures.services import RedisServer


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


def _redirects_counted(text: str) -> float:
    """The sum of ``linkfleet_http_requests_total`` for GET ``redirect.follow`` 302s."""
    wanted = ('endpoint="redirect.follow"', 'method="GET"', 'status="302"')
    total = 0.0
    for line in text.splitlines():
        if line.startswith("linkfleet_http_requests_total{") and all(w in line for w in wanted):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.integration
def test_metrics_count_every_redirect_at_once(app: Flask, client: FlaskClient) -> None:
    """Counted in process, folded when /metrics renders: both redirect paths, exactly."""
    from service.accounts.models import User
    from service.extensions import db
    from service.links.services import create_link

    with app.app_context():
        user = User(email="metrics@example.com", password_hash="!no-login")
        db.session.add(user)
        db.session.commit()
        slug = create_link(user, url="https://example.com/").slug
    before = _redirects_counted(client.get("/metrics").get_data(as_text=True))
    for _ in range(25):  # the first fills L1 through Flask, the rest take the redirect lane
        assert client.get(f"/{slug}").status_code == 302
    after = _redirects_counted(client.get("/metrics").get_data(as_text=True))
    assert after - before == 25


_COUNTING_WORKER = """
import sys, time
from service.extensions.metrics import count_request
for _ in range(int(sys.argv[1])):
    count_request("GET", "redirect.follow", 302, 0.0004)
print("counted", flush=True)
time.sleep(30)
"""


@pytest.mark.integration
def test_another_workers_counts_reach_the_metric_files_within_a_second(tmp_path: Path) -> None:
    """A worker that counted N redirects and then sits idle: its folder greenlet (a thread
    here) has written all N to the multiprocess files a second later."""
    import os
    import subprocess
    import sys
    import time

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = subprocess.Popen(
        [sys.executable, "-c", _COUNTING_WORKER, "137"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "counted"
        time.sleep(1.0)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
        text = generate_latest(registry).decode()
    finally:
        worker.kill()
        worker.communicate(timeout=10)
    assert _redirects_counted(text) == 137
    assert 'linkfleet_http_request_duration_seconds_count{endpoint="redirect.follow"} 137.0' in text
