"""Registers the fixture modules of ``tests/fixtures`` once, for every package.

Each module holds one concern (services, the app, users, API accounts, links, replicas,
fleets); packages import their helpers from there and never redefine these fixtures.
"""

from __future__ import annotations

import gc

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.app",
    "tests.fixtures.users",
    "tests.fixtures.accounts",
    "tests.fixtures.links",
    "tests.fixtures.replicas",
    "tests.fixtures.fleets",
]


def pytest_collection_modifyitems(items: list) -> None:
    """The long modules first: xdist (``--dist loadscope``, no reorder) hands modules out in
    this order, so the minutes-long fleets start at once and the short modules fill the gaps,
    instead of one worker running the drills alone at the end while the other idles."""

    def weight(item: object) -> int:
        marker = item.get_closest_marker  # type: ignore[attr-defined]
        return 0 if marker("slow") else 1 if marker("e2e") else 2

    items.sort(key=weight)


def pytest_collection_finish(session: object) -> None:
    """Everything imported so far (the service, its libraries, the test modules) lives for
    the whole session: freezing it keeps the cyclic collector from scanning it again on
    every full collection. About 2,000 tests each build and drop an app, which triggers
    many; two in-process modules measured took 8-18 % less CPU with the heap frozen."""
    gc.collect()
    gc.freeze()
