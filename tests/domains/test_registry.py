"""The domain map under a listener that drops it at any moment (real Redis, both databases).

The link cache's listener drops a process's map whenever a domain changes or it subscribes
again, from its own thread; a lookup must see either the old map or none (then the default
domain), never a dropped map taken for an unknown host: that answered a known host 404.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask

from service.domains.registry import DEFAULT, domain_for
from service.links.cache import link_cache
from tests.domains.conftest import new_domain

pytestmark = pytest.mark.integration

LOOKUPS = 4_000


@pytest.fixture
def fast_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter can: the race is between two bytecodes."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("fast_thread_switches")
def test_a_known_host_is_never_unknown_while_the_map_is_dropped(app: Flask) -> None:
    go = new_domain(app, "go.example.com", root_redirect="https://example.com/")
    done = threading.Event()
    answers: dict[str, set[object]] = {"localhost": set(), go: set()}
    with app.app_context():
        state = link_cache.state(app)

        def drop_the_map() -> None:
            while not done.is_set():
                state.forget_domains()
                time.sleep(0)

        dropper = threading.Thread(target=drop_the_map, daemon=True)
        dropper.start()
        try:
            for number in range(LOOKUPS):
                host = "localhost" if number % 2 else go
                found = domain_for(host, app)
                answers[host].add(found.host if found is not None else None)
        finally:
            done.set()
            dropper.join(5)
    assert answers == {"localhost": {DEFAULT.host}, go: {go}}
