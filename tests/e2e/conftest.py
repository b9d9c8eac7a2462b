"""A real fleet (supervisord, nginx, gevent replicas, Redis) in a temp dir on free ports."""

from __future__ import annotations

import os
import random
import subprocess
import sys
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


@pytest.fixture(scope="module")
def api(fleet: Fleet) -> requests.Session:
    """A session carrying a write key of a user made with the CLI, as an operator would."""
    fleet.create_user("e2e-links@example.com", "an e2e password")
    key = fleet.cli("apikey", "create", "e2e-links@example.com", "--name", "e2e").stdout.strip()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session
