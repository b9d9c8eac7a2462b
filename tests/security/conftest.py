"""Fixtures of the security checks: the shared app with its cache listener stopped, a second
replica on the same Redis and database, and logged-in users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from service import create_app
from service.extensions import db
from service.links.cache import link_cache
from tests.conftest import RedisServer


@pytest.fixture
def app(app: Flask) -> Iterator[Flask]:
    yield app
    app.shutdown()


ReplicaFactory = Callable[..., Flask]


@pytest.fixture
def replica(
    app: Flask, redis_server: RedisServer, database_config: dict[str, Any]
) -> Iterator[ReplicaFactory]:
    """Builds more replicas of ``app``: same Redis, same database, another name."""
    made: list[Flask] = []

    def make(name: str = "replica-2", **config: Any) -> Flask:
        other = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "REDIS_URL": redis_server.url,
                "REPLICA_NAME": name,
                **database_config,
                **config,
            }
        )
        made.append(other)
        return other

    yield make
    for other in made:
        link_cache.shutdown(other)
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
