"""End-to-end faults through nginx: Redis down, the database down, overload, slow clients and
huge bodies. Every loop is bounded and on loopback; every figure goes to test-artifacts/
(see tests/reliability.py) and from there into docs/RELIABILITY.md.

Faults are real: Redis is stopped by supervisord, PostgreSQL is cut off behind a TCP proxy
(connections reset, new ones refused), SQLite's write lock is held by another connection,
and replicas are frozen with SIGSTOP to make more requests wait than the limits allow.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import selectors
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from service.fleet.supervisor import Supervisor
from tests.analytics.faults import SqliteWriteLock, TcpProxy
from tests.fixtures.fleets import FLEET_API_PASSWORD, Fleet, fleet_api_email, started_fleet
from tests.fixtures.services import child_pids, wait_until
from tests.reliability import (
    Traffic,
    all_ready,
    postgres_behind_proxy,
    record,
    replica_pids,
    replica_urls,
)

pytestmark = pytest.mark.e2e

#: The test fleet's nginx limits: short enough for a test, the same code paths as production.
CLIENT_TIMEOUT = 2
MAX_INFLIGHT = 64


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two replicas, worker, Redis and nginx with a short client timeout and a small
    in-flight limit; stopped after the module."""
    with started_fleet(
        tmp_path_factory.mktemp("faults-fleet"),
        2,
        LINKFLEET_NGINX_CLIENT_TIMEOUT=f"{CLIENT_TIMEOUT}s",
        LINKFLEET_NGINX_MAX_INFLIGHT=str(MAX_INFLIGHT),
    ) as running:
        yield running


# -- helpers ------------------------------------------------------------------------------------


def create_link(fleet: Fleet, fleet_api: requests.Session, **fields: Any) -> str:
    fields.setdefault("url", "https://example.org/faults")
    response = fleet_api.post(f"{fleet.url}/api/v1/links", json=fields, timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["slug"])


def warm(fleet: Fleet, slug: str) -> int:
    """Each replica holds the link in L1 (and Redis in L2); returns the redirects made.

    Waits out the cache's second invalidation of a new link first (half a second after a
    change every replica drops the slug again, see service/links/cache.py): "cached" means
    still cached when the fault starts."""
    time.sleep(1.0)
    made = 0
    for base in [*replica_urls(fleet.spec), fleet.url, fleet.url]:
        response = requests.get(f"{base}/{slug}", allow_redirects=False, timeout=5)
        assert response.status_code == 302
        made += 1
    return made


def visits(fleet: Fleet, fleet_api: requests.Session, slug: str) -> int:
    response = fleet_api.get(f"{fleet.url}/api/v1/links/{slug}/stats", timeout=10)
    if response.status_code != 200:
        return -1
    return int(response.json()["totals"]["visits"])


def wait_counted(fleet: Fleet, fleet_api: requests.Session, slug: str, served: int) -> int:
    """Wait until the worker has counted ``served`` clicks; then the count (late doubles
    would show). Polls slowly: the read budget of the key is shared with the test."""
    deadline = time.monotonic() + 90
    counted = visits(fleet, fleet_api, slug)
    while counted < served and time.monotonic() < deadline:
        time.sleep(0.5)
        counted = visits(fleet, fleet_api, slug)
    time.sleep(1.5)
    return visits(fleet, fleet_api, slug)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def assert_problem_503(response: requests.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["status"] == 503


def rss_kib(pids: list[int]) -> int:
    """Summed resident memory of ``pids`` (KiB)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def fleet_processes(fleet: Fleet) -> list[int]:
    """Every replica's master and workers, and nginx's master and workers."""
    processes = Supervisor(fleet.spec).processes()
    masters = [int(processes[name]["pid"]) for name in [*fleet.spec.replicas, "nginx"]]
    return [pid for master in masters for pid in [master, *child_pids(master)]]


def raw_request(port: int, payload: bytes, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(payload)
    return sock


def read_response(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def first_bytes(
    sockets: list[socket.socket], seconds: float
) -> tuple[dict[int, bytes], dict[int, float]]:
    """What each socket received first within ``seconds``, and when (monotonic time)."""
    received: dict[int, bytes] = {}
    arrivals: dict[int, float] = {}
    with selectors.DefaultSelector() as selector:
        for index, sock in enumerate(sockets):
            selector.register(sock, selectors.EVENT_READ, index)
        deadline = time.monotonic() + seconds
        while len(received) < len(sockets) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                index = key.data
                sock = sockets[index]
                received[index] = sock.recv(65536)
                arrivals[index] = time.monotonic()
                selector.unregister(sock)
    return received, arrivals


def status_of(raw: bytes) -> str:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    return match.group(1).decode() if match else ("closed" if not raw else "garbled")


# -- Redis down -------------------------------------------------------------------------------


def test_redis_down_redirects_go_on_logins_and_api_answer_503_and_it_recovers(
    fleet: Fleet, fleet_api: requests.Session
) -> None:
    slug = create_link(fleet, fleet_api)
    served = warm(fleet, slug)
    pids = replica_pids(fleet.spec)
    browser = requests.Session()
    token = csrf_of(browser.get(f"{fleet.url}/login", timeout=5).text)
    supervisor = Supervisor(fleet.spec)
    outage: collections.Counter[str] = collections.Counter()

    supervisor.rpc.stopProcess("redis", True)
    try:
        with Traffic(f"{fleet.url}/{slug}", seconds=60) as traffic:
            login = browser.post(
                f"{fleet.url}/login",
                data={"email": "nobody@example.com", "password": "x" * 12, "csrf_token": token},
                allow_redirects=False,
                timeout=10,
            )
            outage[f"login {login.status_code}"] += 1
            assert login.status_code == 503, login.text[:300]
            assert login.headers["Content-Type"].startswith("text/html")
            assert int(login.headers["Retry-After"]) > 0
            assert "briefly unavailable" in login.text or "try again" in login.text
            for method, path, body in [
                ("GET", "/api/v1/links", None),
                ("POST", "/api/v1/links", {"url": "https://example.org/during-outage"}),
                ("GET", f"/api/v1/links/{slug}", None),
            ]:
                response = fleet_api.request(method, f"{fleet.url}{path}", json=body, timeout=10)
                outage[f"api {response.status_code}"] += 1
                assert_problem_503(response)
            ready = requests.get(f"{fleet.url}/readyz", timeout=5)
            assert ready.status_code == 503
            assert ready.json()["failed"] == ["redis"]
            time.sleep(5)  # several seconds of redirects without Redis
    finally:
        supervisor.rpc.startProcess("redis", True)
    during = traffic.outcomes["302"]
    served += during

    wait_until(
        lambda: all_ready(fleet.spec), 20, "the fleet did not turn ready after Redis returned"
    )
    assert replica_pids(fleet.spec) == pids, "a replica was restarted"
    after = Traffic(f"{fleet.url}/{slug}", seconds=2)
    with after:
        time.sleep(2)
    served += after.outcomes["302"]
    created = fleet_api.post(
        f"{fleet.url}/api/v1/links", json={"url": "https://example.org/after"}, timeout=10
    )
    fresh = requests.Session()
    login_page = fresh.get(f"{fleet.url}/login", timeout=5)
    relogin = fresh.post(
        f"{fleet.url}/login",
        data={
            "email": fleet_api_email(__name__),
            "password": FLEET_API_PASSWORD,
            "csrf_token": csrf_of(login_page.text),
        },
        allow_redirects=False,
        timeout=10,
    )
    counted = wait_counted(fleet, fleet_api, slug, served)
    record(
        "redis-down",
        sent=traffic.sent + after.sent,
        failed=traffic.failed() + after.failed(),
        lost=served - counted,
        outage_seconds=">5",
        redirects_during_outage=during,
        refused_with_503=sum(outage.values()),
        clicks_served=served,
        clicks_counted=counted,
    )
    assert traffic.failed() == 0, traffic.outcomes
    assert after.failed() == 0, after.outcomes
    assert during > 50
    assert created.status_code == 201, created.text
    assert relogin.status_code == 302, relogin.text[:300]
    assert counted == served


# -- the database down ----------------------------------------------------------------------


def test_sqlite_write_lock_writes_503_redirects_go_on_and_it_recovers(
    fleet: Fleet, fleet_api: requests.Session
) -> None:
    slug = create_link(fleet, fleet_api)
    served = warm(fleet, slug)
    pids = replica_pids(fleet.spec)
    lock = SqliteWriteLock(fleet.run_dir / "linkfleet.db")
    lock.take()
    refused = []
    try:
        with Traffic(f"{fleet.url}/{slug}", seconds=60) as traffic:
            started = time.monotonic()
            for number in range(2):
                response = fleet_api.post(
                    f"{fleet.url}/api/v1/links",
                    json={"url": f"https://example.org/locked/{number}"},
                    timeout=30,
                )
                refused.append(response)
            waited = time.monotonic() - started
    finally:
        lock.release()
    served += traffic.outcomes["302"]
    wait_until(lambda: all_ready(fleet.spec), 20, "the fleet is not ready after the lock")
    created = fleet_api.post(
        f"{fleet.url}/api/v1/links", json={"url": "https://example.org/unlocked"}
    )
    counted = wait_counted(fleet, fleet_api, slug, served)
    record(
        "database-down-sqlite-locked",
        sent=traffic.sent,
        failed=traffic.failed(),
        lost=served - counted,
        writes_refused=[r.status_code for r in refused],
        seconds_per_refused_write=round(waited / len(refused), 2),
        clicks_served=served,
        clicks_counted=counted,
    )
    for response in refused:
        assert_problem_503(response)
    assert traffic.failed() == 0, traffic.outcomes
    assert created.status_code == 201, created.text
    assert replica_pids(fleet.spec) == pids
    assert counted == served


@pytest.fixture
def postgres_fleet(tmp_path: Path) -> Iterator[tuple[Fleet, TcpProxy]]:
    """A fleet on the machine's PostgreSQL (a schema of its own) through a TCP proxy the test
    can cut; everything dropped afterwards."""
    with (
        postgres_behind_proxy() as (url, proxy, _),
        started_fleet(tmp_path / "run", 2, LINKFLEET_DATABASE_URL=url) as running,
    ):
        yield running, proxy


def test_postgresql_down_cached_redirects_go_on_writes_503_and_it_recovers(
    postgres_fleet: tuple[Fleet, TcpProxy],
) -> None:
    fleet, proxy = postgres_fleet
    fleet_api = fleet.api_session("pg-faults@example.com", "an e2e password", "faults")
    slug = create_link(fleet, fleet_api)
    served = warm(fleet, slug)
    pids = replica_pids(fleet.spec)
    browser = requests.Session()
    token = csrf_of(browser.get(f"{fleet.url}/login", timeout=5).text)
    refused: list[requests.Response] = []

    proxy.cut()
    try:
        with Traffic(f"{fleet.url}/{slug}", seconds=60) as traffic:
            for number in range(3):
                refused.append(
                    fleet_api.post(
                        f"{fleet.url}/api/v1/links",
                        json={"url": f"https://example.org/pg-down/{number}"},
                        timeout=30,
                    )
                )
            login = browser.post(
                f"{fleet.url}/login",
                data={"email": "pg-faults@example.com", "password": "x" * 12, "csrf_token": token},
                allow_redirects=False,
                timeout=30,
            )
            ready = requests.get(f"{fleet.url}/readyz", timeout=10)
            time.sleep(5)
    finally:
        proxy.restore()
    served += traffic.outcomes["302"]

    attempts = 0
    created: requests.Response | None = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        attempts += 1
        created = fleet_api.post(
            f"{fleet.url}/api/v1/links", json={"url": "https://example.org/pg-back"}, timeout=30
        )
        if created.status_code == 201:
            break
        assert created.status_code == 503, created.text  # never a 500 on the way back
        time.sleep(0.5)
    counted = wait_counted(fleet, fleet_api, slug, served)
    record(
        "database-down-postgresql",
        sent=traffic.sent,
        failed=traffic.failed(),
        lost=served - counted,
        writes_refused=[r.status_code for r in refused] + [login.status_code],
        writes_until_recovered=attempts,
        clicks_served=served,
        clicks_counted=counted,
    )
    assert traffic.failed() == 0, traffic.outcomes
    for response in refused:
        assert_problem_503(response)
    assert login.status_code == 503
    assert login.headers["Content-Type"].startswith("text/html")
    assert int(login.headers["Retry-After"]) > 0
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["database"]
    assert created is not None
    assert created.status_code == 201
    assert replica_pids(fleet.spec) == pids, "a replica was restarted"
    assert counted == served


# -- overload ---------------------------------------------------------------------------------


def _freeze(fleet: Fleet, sig: signal.Signals) -> None:
    for pid in replica_pids(fleet.spec).values():
        for worker in child_pids(pid):
            os.kill(worker, sig)


def test_more_requests_than_the_limits_get_fast_503s_and_memory_stays_bounded(
    fleet: Fleet,
) -> None:
    """Replicas frozen (SIGSTOP): nginx holds MAX_INFLIGHT requests for them and answers
    the rest at once with 503 problem+json; thawed, the held ones are served."""
    port = fleet.spec.port
    total = 4 * MAX_INFLIGHT
    pids = replica_pids(fleet.spec)
    rss_before = rss_kib(fleet_processes(fleet))
    request = b"GET /healthz HTTP/1.1\r\nHost: linkfleet\r\nConnection: close\r\n\r\n"
    _freeze(fleet, signal.SIGSTOP)
    try:
        started = time.monotonic()
        sockets = [raw_request(port, request) for _ in range(total)]
        fast, arrivals = first_bytes(sockets, seconds=3)
    finally:
        _freeze(fleet, signal.SIGCONT)
    shed_seconds = max(arrivals.values(), default=0.0) - started
    outcomes: collections.Counter[str] = collections.Counter()
    bodies = []
    for index, sock in enumerate(sockets):
        sock.settimeout(20)
        raw = fast.get(index, b"") + read_response(sock)
        outcomes[status_of(raw)] += 1
        if status_of(raw) == "503":
            bodies.append(raw)
    rss_after = rss_kib(fleet_processes(fleet))
    record(
        "overload",
        sent=total,
        failed=total - outcomes["200"] - outcomes["503"],
        lost=None,
        served_200=outcomes["200"],
        shed_503=outcomes["503"],
        shed_within_seconds=round(shed_seconds, 2),
        max_inflight=MAX_INFLIGHT,
        rss_mib_before=round(rss_before / 1024, 1),
        rss_mib_after=round(rss_after / 1024, 1),
    )
    assert outcomes["503"] >= total - MAX_INFLIGHT, outcomes
    assert shed_seconds < 2, "the refusals were not fast"
    assert outcomes["200"] >= 1, outcomes
    assert outcomes["200"] + outcomes["503"] == total, outcomes
    head, _, body = bodies[0].partition(b"\r\n\r\n")
    assert b"application/problem+json" in head
    assert re.search(rb"(?i)retry-after: 1", head)
    assert json.loads(body)["status"] == 503
    assert rss_after - rss_before < 64 * 1024, "memory grew by more than 64 MiB"
    assert replica_pids(fleet.spec) == pids
    assert all_ready(fleet.spec)


def test_a_burst_of_concurrent_connections_is_served_or_shed_never_dropped(
    fleet: Fleet, fleet_api: requests.Session
) -> None:
    slug = create_link(fleet, fleet_api)
    port = fleet.spec.port
    total = 400
    request = f"GET /{slug} HTTP/1.1\r\nHost: linkfleet\r\nConnection: close\r\n\r\n".encode()
    rss_before = rss_kib(fleet_processes(fleet))
    sockets = [raw_request(port, request) for _ in range(total)]
    outcomes = collections.Counter(status_of(read_response(sock)) for sock in sockets)
    rss_after = rss_kib(fleet_processes(fleet))
    record(
        "connection-burst",
        sent=total,
        failed=total - outcomes["302"] - outcomes["503"],
        lost=None,
        redirected_302=outcomes["302"],
        shed_503=outcomes["503"],
        rss_mib_before=round(rss_before / 1024, 1),
        rss_mib_after=round(rss_after / 1024, 1),
    )
    assert outcomes["302"] + outcomes["503"] == total, outcomes
    assert outcomes["302"] >= MAX_INFLIGHT
    assert rss_after - rss_before < 64 * 1024


def test_slow_clients_are_cut_off_and_others_are_served_meanwhile(fleet: Fleet) -> None:
    """Slowloris: half a request line and headers, or a body that never arrives; nginx
    drops each after its client timeout while normal requests go on."""
    port = fleet.spec.port
    slow_headers = [
        raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: linkfleet\r\nX-Slow: 1\r\n")
        for _ in range(100)
    ]
    slow_bodies = [
        raw_request(
            port,
            b"POST /login HTTP/1.1\r\nHost: linkfleet\r\nContent-Type: "
            b"application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=",
        )
        for _ in range(20)
    ]
    started = time.monotonic()
    with Traffic(f"{fleet.url}/healthz", seconds=CLIENT_TIMEOUT + 3) as normal:
        time.sleep(CLIENT_TIMEOUT + 2)
    closed_after = []
    outcomes: collections.Counter[str] = collections.Counter()
    for sock in slow_headers + slow_bodies:
        sock.settimeout(CLIENT_TIMEOUT + 5)
        raw = read_response(sock)
        closed_after.append(time.monotonic() - started)
        outcomes[status_of(raw)] += 1
    cut_within = max(closed_after)
    record(
        "slow-clients",
        sent=normal.sent,
        failed=normal.failed("200"),
        lost=None,
        slow_connections=len(slow_headers) + len(slow_bodies),
        slow_connections_cut=sum(outcomes.values()),
        slow_outcomes=dict(outcomes),
        cut_within_seconds=round(cut_within, 1),
        client_timeout_seconds=CLIENT_TIMEOUT,
    )
    assert normal.failed("200") == 0, normal.outcomes
    assert normal.sent > 20
    assert set(outcomes) <= {"closed", "408"}, outcomes
    assert cut_within < CLIENT_TIMEOUT + 5


def test_huge_bodies_are_refused_before_they_are_read(
    fleet: Fleet, fleet_api: requests.Session
) -> None:
    port = fleet.spec.port
    rss_before = rss_kib(fleet_processes(fleet))
    key = fleet_api.headers["Authorization"]
    started = time.monotonic()
    sock = raw_request(
        port,
        (
            "POST /api/v1/links HTTP/1.1\r\nHost: linkfleet\r\nContent-Type: application/json\r\n"
            f"Authorization: {key}\r\nContent-Length: {500 * 1024 * 1024}\r\n\r\n"
        ).encode(),
    )
    first, arrivals = first_bytes([sock], seconds=5)
    refused_in = arrivals.get(0, time.monotonic()) - started
    raw = first.get(0, b"") + read_response(sock)  # nginx closes after its lingering close
    head, _, body = raw.partition(b"\r\n\r\n")
    # Under nginx's limit but over the API's JSON limit: the app refuses it the same way.
    big_json = json.dumps({"url": "https://example.org/" + "a" * (200 * 1024)})
    app_refused = fleet_api.post(
        f"{fleet.url}/api/v1/links",
        data=big_json,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    rss_after = rss_kib(fleet_processes(fleet))
    record(
        "huge-bodies",
        sent=2,
        failed=int(status_of(raw) != "413") + int(app_refused.status_code != 413),
        lost=None,
        nginx_refused_500mib_in_seconds=round(refused_in, 3),
        rss_mib_before=round(rss_before / 1024, 1),
        rss_mib_after=round(rss_after / 1024, 1),
    )
    assert status_of(raw) == "413", raw[:300]
    assert b"application/problem+json" in head
    assert b"nosniff" in head
    assert json.loads(body)["status"] == 413
    assert refused_in < 2
    assert app_refused.status_code == 413, app_refused.text[:300]
    assert app_refused.headers["Content-Type"].startswith("application/problem+json")
    assert rss_after - rss_before < 32 * 1024
