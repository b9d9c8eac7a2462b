"""What the fault tests and the drills (``loadtests/drills.py``) share: bounded request loops
through nginx, a fleet's processes, PostgreSQL behind a proxy that can be cut, and figures.

Each fault test writes one JSON file, ``test-artifacts/reliability/<scenario>.json``
(git-ignored): requests sent, failed, click events lost, and whatever else it measured.
Tests call :func:`record` *before* their final asserts, so a failing run leaves its figures.
Nothing here calls pytest: the drills run the same code outside a test session.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, create_engine, text

from service.fleet.spec import FleetSpec
from service.fleet.supervisor import Supervisor
from tests.analytics.faults import TcpProxy
from tests.fixtures.services import POSTGRES_URL

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "reliability"


def record(scenario: str, *, sent: int, failed: int, lost: int | None, **extra: Any) -> None:
    """Write the figures of ``scenario`` (``lost=None``: clicks not tracked in it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    data = {
        "scenario": scenario,
        "sent": sent,
        "failed": failed,
        "events_lost": lost,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
    path = ARTIFACTS / f"{scenario}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\nreliability {scenario}: {json.dumps(data, sort_keys=True, default=str)}")


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Traffic:
    """Clients GETting ``url`` (no redirect following, a fresh connection each time) until
    stopped or ``seconds`` have passed; every outcome counted, and which replica answered."""

    def __init__(
        self,
        url: str,
        *,
        clients: int = 3,
        seconds: float = 60.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.headers = {"Connection": "close", **(headers or {})}
        self.deadline = time.monotonic() + seconds
        self.stopped = threading.Event()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.served_by: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        with requests.Session() as session:
            while not self.stopped.is_set() and time.monotonic() < self.deadline:
                try:
                    response = session.get(
                        self.url, allow_redirects=False, timeout=10, headers=self.headers
                    )
                    outcome = str(response.status_code)
                    replica = response.headers.get("X-Served-By", "")
                except requests.RequestException as error:
                    outcome, replica = type(error).__name__, ""
                with self.lock:
                    self.outcomes[outcome] += 1
                    self.served_by[replica] += 1
                time.sleep(0.01)

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(15)

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    def failed(self, ok: str = "302") -> int:
        return self.sent - self.outcomes[ok]


def replica_urls(spec: FleetSpec) -> list[str]:
    return [f"http://127.0.0.1:{port}" for port in spec.replicas.values()]


def replica_pids(spec: FleetSpec) -> dict[str, int]:
    processes = Supervisor(spec).processes()
    return {name: int(processes[name]["pid"]) for name in spec.replicas}


def all_ready(spec: FleetSpec) -> bool:
    """Every replica and nginx answer ``/readyz`` with 200."""
    try:
        return all(
            requests.get(f"{base}/readyz", timeout=3).status_code == 200
            for base in [*replica_urls(spec), spec.url]
        )
    except requests.RequestException:
        return False


@contextlib.contextmanager
def postgres_behind_proxy() -> Iterator[tuple[str, TcpProxy, Engine]]:
    """A schema of its own in the machine's PostgreSQL, reached through a :class:`TcpProxy`
    that can be cut: yields the URL a fleet uses (through the proxy), the proxy, and an
    engine straight to the schema (for checks that must not depend on the proxy).
    The schema is dropped afterwards."""
    schema = f"linkfleet_faults_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    host_port = POSTGRES_URL.rsplit("@", 1)[1].split("/", 1)[0]
    proxy = TcpProxy(host_port.split(":")[0], int(host_port.split(":")[1]))
    proxy.start()
    user = POSTGRES_URL.split("//", 1)[1].split("@", 1)[0]
    database = POSTGRES_URL.rsplit("/", 1)[1]
    url = f"postgresql://{user}@127.0.0.1:{proxy.port}/{database}?options=-csearch_path%3D{schema}"
    direct = create_engine(
        POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=2
    )
    try:
        yield url, proxy, direct
    finally:
        direct.dispose()
        proxy.close()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
