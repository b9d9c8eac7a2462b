"""Registers the fixture modules of ``tests/fixtures`` once, for every package.

Each module holds one concern (services, the app, users, API accounts, links, replicas);
packages import their helpers from there and never redefine these fixtures.
"""

from __future__ import annotations

from typing import Any

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.app",
    "tests.fixtures.users",
    "tests.fixtures.accounts",
    "tests.fixtures.links",
    "tests.fixtures.replicas",
]


def __getattr__(name: str) -> Any:
    """``from tests.conftest import RedisServer`` keeps working for modules not moved yet.

    Resolved lazily: importing the fixture modules here, before pytest registers them as
    plugins, would keep their asserts from being rewritten.
    """
    from tests.fixtures import services

    return getattr(services, name)
