"""Branded domains end to end: nginx passes every ``Host`` through, two replicas route the
same slug on two domains apart, serve the fallbacks, refuse unknown hosts, and pick up a
domain added or changed from the CLI (another process) within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.fixtures.fleets import Fleet, fleet_env

pytestmark = pytest.mark.e2e

GO = "go.example.test"
GO_TLS = "go.example.test:8443"


@pytest.fixture(scope="module")
def branded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two replicas whose ``PUBLIC_URL`` is nginx's address: any other host is unknown."""
    run_dir = tmp_path_factory.mktemp("domains-fleet")
    env = fleet_env(run_dir)
    env["LINKFLEET_PUBLIC_URL"] = f"http://127.0.0.1:{env['LINKFLEET_PORT']}"
    running = Fleet(run_dir, env, env["LINKFLEET_PUBLIC_URL"])
    running.cli("fleet", "up", "--replicas", "2")
    yield running
    running.cli("fleet", "down", check=False)


@pytest.fixture(scope="module")
def api(branded: Fleet) -> requests.Session:
    return branded.api_session("domains@example.com", "an e2e password")


def visit(fleet: Fleet, path: str, host: str | None = None) -> requests.Response:
    headers = {"Connection": "close"}
    if host:
        headers["Host"] = host
    return requests.get(f"{fleet.url}{path}", headers=headers, allow_redirects=False, timeout=10)


def on_every_replica(fleet: Fleet, path: str, host: str, location: str, deadline: float) -> None:
    """Until ``deadline``: eight answers in a row, from both replicas, redirect to ``location``."""
    while True:
        answers = [visit(fleet, path, host) for _ in range(8)]
        replicas = {answer.headers.get("X-Served-By") for answer in answers}
        if all(a.headers.get("Location") == location for a in answers) and len(replicas) == 2:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"{host}{path}: {[(a.status_code, a.headers.get('Location')) for a in answers]}"
            )
        time.sleep(0.05)


def test_domains_route_apart_through_nginx(branded: Fleet, api: requests.Session) -> None:
    branded.cli("domains", "add", GO)
    branded.cli("domains", "add", GO_TLS, "--not-found-redirect", "https://tls.example/404")
    for domain, target in (
        (None, "https://default.example/"),
        (GO, "https://go.example/"),
        (GO_TLS, "https://tls.example/"),
    ):
        created = api.post(
            f"{branded.url}/api/v1/links",
            json={"url": target, "slug": "promo", "domain": domain},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        assert created.json()["short_url"] == (
            f"http://{domain}/promo" if domain else f"{branded.url}/promo"
        )
    deadline = time.monotonic() + 1.0
    on_every_replica(
        branded,
        "/promo",
        f"127.0.0.1:{branded.env['LINKFLEET_PORT']}",
        "https://default.example/",
        deadline,
    )
    on_every_replica(branded, "/promo", GO, "https://go.example/", deadline)
    on_every_replica(branded, "/promo", GO_TLS, "https://tls.example/", deadline)
    on_every_replica(branded, "/nothing", GO_TLS, "https://tls.example/404", deadline)
    assert visit(branded, "/nothing", GO).status_code == 404
    assert visit(branded, "/", GO).status_code == 404
    assert visit(branded, "/dashboard", GO).status_code == 404


def test_unknown_hosts_are_refused_through_nginx(branded: Fleet) -> None:
    for path in ("/promo", "/", "/login", "/api/v1/links"):
        answer = visit(branded, path, "evil.example")
        assert answer.status_code == 404, path
        assert "Location" not in answer.headers
    assert visit(branded, "/healthz", "evil.example").status_code == 200
    assert visit(branded, "/login").status_code == 200  # the default host keeps its pages


def test_a_change_from_the_cli_reaches_both_replicas_within_a_second(branded: Fleet) -> None:
    branded.cli("domains", "add", "new.example.test", "--root-redirect", "https://new.example/")
    on_every_replica(
        branded, "/", "new.example.test", "https://new.example/", time.monotonic() + 1.0
    )
    branded.cli(
        "domains", "set-redirects", "new.example.test", "--root-redirect", "https://newer.example/"
    )
    on_every_replica(
        branded, "/", "new.example.test", "https://newer.example/", time.monotonic() + 1.0
    )
    branded.cli("domains", "remove", "new.example.test")
    deadline = time.monotonic() + 1.0
    while (
        visit(branded, "/", "new.example.test").status_code != 404
        or visit(branded, "/", "new.example.test").status_code != 404
    ):
        assert time.monotonic() < deadline, "a removed domain still answers"
        time.sleep(0.05)
