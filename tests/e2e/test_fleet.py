"""End-to-end: the fleet through nginx, under faults and scaling, with zero failed requests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
import requests
from dotenv import dotenv_values

from service.fleet.supervisor import Supervisor
from tests.fixtures.fleets import Fleet
from tests.fixtures.services import wait_until

pytestmark = pytest.mark.e2e


def test_requests_reach_every_replica(fleet: Fleet) -> None:
    seen = set()
    with requests.Session() as session:
        for _ in range(40):
            response = session.get(f"{fleet.url}/healthz", timeout=5)
            assert response.status_code == 200
            assert len(response.headers["X-Request-ID"]) == 32  # nginx's $request_id
            seen.add(response.headers["X-Served-By"])
    assert seen == {"replica-1", "replica-2"}


def test_status_lists_every_process(fleet: Fleet) -> None:
    output = fleet.cli("fleet", "status").stdout
    lines = {line.split()[0]: line for line in output.splitlines()[1:]}
    assert set(lines) == {"logrotate", "nginx", "redis", "replica-1", "replica-2", "worker"}
    for name in ("nginx", "replica-1", "replica-2"):
        assert "RUNNING" in lines[name]
        assert "ready" in lines[name]


def test_up_again_is_idempotent(fleet: Fleet) -> None:
    result = fleet.cli("fleet", "up")
    assert "already running" in result.stdout
    assert len(fleet.spec.replicas) == 2


def test_metrics_through_nginx_from_loopback(fleet: Fleet) -> None:
    response = requests.get(f"{fleet.url}/metrics", timeout=5)
    assert response.status_code == 200
    assert "linkfleet_http_requests_total" in response.text


def test_readyz_follows_redis(fleet: Fleet) -> None:
    supervisor = Supervisor(fleet.spec)
    supervisor.rpc.stopProcess("redis", True)
    try:
        response = requests.get(f"{fleet.url}/readyz", timeout=5)
        assert response.status_code == 503
        assert response.json()["failed"] == ["redis"]
        assert requests.get(f"{fleet.url}/healthz", timeout=5).status_code == 200
    finally:
        supervisor.rpc.startProcess("redis", True)
    wait_until(
        lambda: requests.get(f"{fleet.url}/readyz", timeout=5).status_code == 200,
        10,
        "/readyz did not turn green after Redis came back",
    )


def test_the_fleet_redis_refuses_clients_without_its_password(fleet: Fleet) -> None:
    """The password is generated into the run dir; only the fleet's own settings carry it."""
    spec = fleet.spec
    for password in (None, "not-the-password"):
        stranger = redis.Redis(host="127.0.0.1", port=spec.redis_port, password=password)
        with pytest.raises(redis.AuthenticationError):
            stranger.ping()
        stranger.close()
    password = (fleet.run_dir / "redis_password").read_text().strip()
    settings = dotenv_values(spec.env_file)
    assert settings["LINKFLEET_REDIS_URL"] == spec.redis_url
    assert f":{password}@" in spec.redis_url
    trusted = redis.Redis.from_url(spec.redis_url)
    assert trusted.ping()
    trusted.close()
    for secret_file in ("redis_password", "redis.conf", "linkfleet.env"):
        assert (fleet.run_dir / secret_file).stat().st_mode & 0o077 == 0, secret_file
    redis_pid = Supervisor(spec).processes()["redis"]["pid"]
    assert password.encode() not in Path(f"/proc/{redis_pid}/cmdline").read_bytes()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def test_a_login_made_on_one_replica_holds_on_every_other(fleet: Fleet) -> None:
    """Sign up and log in talking to replica-1 only; the dashboard through replica-2 sees it."""
    one, two = (f"http://127.0.0.1:{port}" for port in list(fleet.spec.replicas.values())[:2])
    email, password = "e2e-session@example.com", "a long e2e password"
    with requests.Session() as browser:
        form = browser.get(f"{one}/signup", timeout=5)
        browser.post(
            f"{one}/signup",
            data={
                "email": email,
                "password": password,
                "confirm": password,
                "csrf_token": _csrf(form.text),
            },
            timeout=10,
        )
        form = browser.get(f"{one}/login", timeout=5)
        assert form.headers["X-Served-By"] == "replica-1"
        login = browser.post(
            f"{one}/login",
            data={"email": email, "password": password, "csrf_token": _csrf(form.text)},
            allow_redirects=False,
            timeout=10,
        )
        assert login.status_code == 302, login.text
        dashboard = browser.get(f"{two}/dashboard", allow_redirects=False, timeout=5)
        assert dashboard.headers["X-Served-By"] == "replica-2"
        assert dashboard.status_code == 200
        assert "Log out" in dashboard.text
