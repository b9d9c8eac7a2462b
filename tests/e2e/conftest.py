"""A real fleet (supervisord, nginx, gevent replicas, Redis) in a temp dir on free ports."""

from __future__ import annotations

import collections
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from service.fleet.spec import FleetSpec, port_in_use

LINKFLEET = str(Path(sys.executable).parent / "linkfleet")


#: Test fleets take their ports from here: below the benchmark's (30000 and up) and the
#: kernel's ephemeral range (32768 and up), whose ports any outgoing connection or
#: ``free_port()`` may take at any moment, even one a fleet set aside for a later replica.
FLEET_PORTS = range(10000, 30000)
#: Each xdist worker has a slice of its own, so that concurrent fleets never pick one block.
PORT_SLICES = 8


def free_port_block(size: int) -> int:
    """The first port of ``size`` consecutive free ports, at random in this worker's slice."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    width = len(FLEET_PORTS) // PORT_SLICES
    start = FLEET_PORTS.start + (worker % PORT_SLICES) * width
    for _ in range(200):
        base = random.randint(start, start + width - size)
        if not any(port_in_use(port) for port in range(base, base + size)):
            return base
    pytest.fail("no block of free ports found")


@dataclass
class Fleet:
    run_dir: Path
    env: dict[str, str]
    url: str

    def cli(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [LINKFLEET, *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"linkfleet {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def create_user(self, email: str, password: str) -> None:
        """An account made with the CLI, as an operator would (the password on stdin)."""
        self.cli("user", "create", email, "--password-stdin", stdin=f"{password}\n")

    def api_key(self, email: str, name: str, *, scope: str | None = None) -> str:
        """A new API key of ``email``'s account made with the CLI, which prints it once."""
        scoped = ("--scope", scope) if scope else ()
        return self.cli("apikey", "create", email, "--name", name, *scoped).stdout.strip()

    @property
    def spec(self) -> FleetSpec:
        spec = FleetSpec.load(self.run_dir)
        assert spec is not None
        return spec


def fleet_env(run_dir: Path, **extra: str) -> dict[str, str]:
    base = free_port_block(12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKFLEET_")}
    env.update(
        LINKFLEET_RUN_DIR=str(run_dir),
        LINKFLEET_PORT=str(base),
        LINKFLEET_REDIS_PORT=str(base + 1),
        LINKFLEET_REPLICA_BASE_PORT=str(base + 2),
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two replicas behind nginx, stopped at the end of the module."""
    run_dir = tmp_path_factory.mktemp("fleet")
    env = fleet_env(run_dir)
    running = Fleet(run_dir, env, f"http://127.0.0.1:{env['LINKFLEET_PORT']}")
    running.cli("fleet", "up", "--replicas", "2")
    yield running
    running.cli("fleet", "down", check=False)


class RequestLoop:
    """Clients looping GETs through nginx for a bounded time, counting every outcome.

    Each request opens its own connection (``Connection: close``). With client keep-alive,
    an nginx reload closes idle client connections and a request racing that close fails
    in the client before reaching nginx; browsers retry such requests silently (RFC 9112
    section 9.3.1), requests does not. Fresh connections measure what the fleet does.
    """

    def __init__(
        self,
        url: str,
        clients: int = 4,
        seconds: float = 30.0,
        post: tuple[requests.Session, str] | None = None,
    ) -> None:
        self.url = url
        #: Optionally one more client POSTing a new link per request with this API session.
        self.post = post
        self.deadline = time.monotonic() + seconds
        self.stopped = threading.Event()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.served_by: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        if post is not None:
            self.threads.append(threading.Thread(target=self._post, daemon=True))

    def _run(self) -> None:
        session = requests.Session()
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            try:
                response = session.get(self.url, timeout=10, headers={"Connection": "close"})
                outcome = str(response.status_code)
                replica = response.headers.get("X-Served-By", "?")
            except requests.RequestException as error:
                outcome, replica = type(error).__name__, "-"
            with self.lock:
                self.outcomes[outcome] += 1
                self.served_by[replica] += 1

    def _post(self) -> None:
        assert self.post is not None
        session, url = self.post
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            target = f"https://example.org/rolling/{time.monotonic_ns()}"
            try:
                response = session.post(
                    url, json={"url": target}, timeout=10, headers={"Connection": "close"}
                )
                outcome = f"POST {response.status_code}"
            except requests.RequestException as error:
                outcome = f"POST {type(error).__name__}"
            with self.lock:
                self.outcomes[outcome] += 1
            time.sleep(0.6)  # inside the key's write budget of 120 per minute

    def __enter__(self) -> RequestLoop:
        for thread in self.threads:
            thread.start()
        time.sleep(0.5)  # the loop is running before the fault is injected
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)
        self.stopped.set()
        for thread in self.threads:
            thread.join(15)

    @property
    def failures(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome not in {"200", "POST 201"})


@pytest.fixture(scope="module")
def api(fleet: Fleet) -> requests.Session:
    """A session carrying a write key of a user made with the CLI, as an operator would."""
    fleet.create_user("e2e-links@example.com", "an e2e password")
    key = fleet.cli("apikey", "create", "e2e-links@example.com", "--name", "e2e").stdout.strip()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session
