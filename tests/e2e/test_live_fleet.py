"""Live visits through nginx on a real fleet (replica, analytics worker, Redis, nginx): the
owner's event stream carries a click within 2 s of the worker counting it, unbuffered; the
stream cap answers 503; other users get 404."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.fixtures.fleets import Fleet, started_fleet

pytestmark = pytest.mark.e2e

PASSWORD = "a live e2e password"
_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*\svalue="([^"]+)"')


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One replica (so the per-replica cap of one stream is the fleet's), heartbeats every
    second."""
    with started_fleet(
        tmp_path_factory.mktemp("live-fleet"),
        1,
        LINKFLEET_LIVE_MAX_STREAMS="1",
        LINKFLEET_LIVE_HEARTBEAT_S="1",
    ) as running:
        yield running


def _log_in(fleet: Fleet, email: str) -> requests.Session:
    fleet.create_user(email, PASSWORD)
    session = requests.Session()
    form = session.get(f"{fleet.url}/login", timeout=10)
    match = _CSRF_INPUT.search(form.text)
    assert match, "no CSRF token in the login form"
    response = session.post(
        f"{fleet.url}/login",
        data={"csrf_token": match.group(1), "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    return session


class StreamReader:
    """Reads an event stream through nginx in a thread; each block with its arrival time."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.blocks: queue.Queue[tuple[float, str]] = queue.Queue()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        lines: list[str] = []
        try:
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line:
                    lines.append(line)
                elif lines:
                    self.blocks.put((time.monotonic(), "\n".join(lines)))
                    lines = []
        except Exception:  # noqa: S110  # the test closed the response under the reader
            pass
        finally:
            self.ended.set()

    def until(self, wanted: str, timeout: float) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while True:
            arrived, block = self.blocks.get(timeout=max(0.01, deadline - time.monotonic()))
            if wanted in block:
                return arrived, block


def test_a_click_reaches_the_owners_stream_through_nginx_within_2_s_of_being_counted(
    fleet: Fleet,
) -> None:
    owner = _log_in(fleet, "live-owner@example.com")
    key = fleet.cli("apikey", "create", "live-owner@example.com", "--name", "e2e").stdout.strip()
    created = requests.post(
        f"{fleet.url}/api/v1/links",
        json={"url": "https://example.org/live", "slug": "live-e2e"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text

    stream = owner.get(
        f"{fleet.url}/dashboard/links/live-e2e/stats/live", stream=True, timeout=(5, 30)
    )
    assert stream.status_code == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    reader = StreamReader(stream)
    try:
        reader.until("retry:", 10)
        reader.until(": heartbeat", 10)  # heartbeats pass nginx one by one: nothing buffered

        # The cap of one stream per replica: a second one is refused, as problem+json.
        refused = owner.get(f"{fleet.url}/dashboard/stats/live", timeout=10)
        assert refused.status_code == 503
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.headers["Retry-After"] == "10"

        # Someone else cannot subscribe to the link.
        other = _log_in(fleet, "live-other@example.com")
        assert (
            other.get(f"{fleet.url}/dashboard/links/live-e2e/stats/live", timeout=10).status_code
            == 404
        )

        visit = requests.get(f"{fleet.url}/live-e2e", allow_redirects=False, timeout=10)
        assert visit.status_code == 302
        summary_url = f"{fleet.url}/dashboard/links/live-e2e/stats/summary.json"
        deadline = time.monotonic() + 30
        while owner.get(summary_url, timeout=10).json()["totals"]["visits"] < 1:
            assert time.monotonic() < deadline, "the worker did not count the click"
            time.sleep(0.05)
        counted = time.monotonic()  # the first moment the count was seen
        arrived, block = reader.until("event: clicks", 10)
        assert '"visits": 1' in block
        assert arrived - counted <= 2.0
        assert not reader.ended.is_set()  # it came while the stream was open: not buffered
    finally:
        stream.close()
