"""Registers the fixture modules of ``tests/fixtures`` once, for every package.

Each module holds one concern (services, the app, users, API accounts, links, replicas);
packages import their helpers from there and never redefine these fixtures.
"""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.app",
    "tests.fixtures.users",
    "tests.fixtures.accounts",
    "tests.fixtures.links",
    "tests.fixtures.replicas",
]
