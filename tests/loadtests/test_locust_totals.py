"""The benchmark reads a Locust run from its final statistics: a real Locust run against a
slow local server, whose last requests end after the run time, counts what the server
answered (Locust's CSV, written on a timer, missed those and read a short run as empty)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from loadtests.scaling import locust_totals

USERS = 8
LOCUSTFILE = """
from locust import HttpUser, constant, task

class Slow(HttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
"""


class SlowHandler(BaseHTTPRequestHandler):
    """Every answer takes 0.4 s: a short run ends with requests in flight."""

    answered = 0

    def do_GET(self) -> None:
        time.sleep(0.4)
        self.send_response(204)
        self.end_headers()
        type(self).answered += 1

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_totals_are_the_requests_locust_prints(slow_server: str, tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(LOCUSTFILE)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "locust"), "-f", str(tmp_path / "slow.py"),
         "--headless", "--host", slow_server, "-u", str(USERS), "-r", str(USERS),
         "--run-time", "2s",
         "--reset-stats", "--json-file", str(tmp_path / "run"), "--only-summary",
         "--loglevel", "ERROR", "--stop-timeout", "2"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    totals = locust_totals(json.loads((tmp_path / "run.json").read_text()))
    # All but those in flight when the statistics were reset (spawning done: 8 at most).
    assert SlowHandler.answered - USERS <= totals.requests <= SlowHandler.answered
    assert totals.requests > 0, out.stderr
    assert totals.failures == 0
    assert 400 <= totals.percentile(0.5) <= totals.percentile(0.99) < 2000
    assert totals.rps > 0


def test_a_run_without_requests_adds_up_to_nothing() -> None:
    totals = locust_totals([])
    assert (totals.requests, totals.rps, totals.percentile(0.99)) == (0, 0.0, 0.0)
