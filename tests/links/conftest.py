"""Fixtures of the links tests: users, a second replica, a query counter.

Every app here stops its link-cache listener when the test ends, so no thread outlives the
Redis server or the database it was talking to.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from service import create_app
from service.accounts.models import User
from service.extensions import db
from service.links.cache import link_cache
from tests.conftest import RedisServer

UserFactory = Callable[..., User]


@pytest.fixture
def app(app: Flask) -> Iterator[Flask]:
    """The shared ``app`` fixture, with its link-cache listener stopped afterwards."""
    yield app
    app.shutdown()


@pytest.fixture
def make_user(app: Flask) -> UserFactory:
    """Creates committed users (call inside an app context); no password hashing cost."""
    numbers = itertools.count(1)

    def make(email: str | None = None, *, admin: bool = False) -> User:
        user = User(
            email=email or f"user{next(numbers)}@example.com",
            password_hash="!no-login",
            is_admin=admin,
        )
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def replica_factory(
    redis_server: RedisServer, database_config: dict[str, Any], app: Flask
) -> Iterator[Callable[..., Flask]]:
    """More replicas of ``app``: same Redis and database (tables made by ``app``)."""
    replicas: list[Flask] = []

    def make(name: str, **overrides: Any) -> Flask:
        replica = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "REDIS_URL": redis_server.url,
                "REPLICA_NAME": name,
                **database_config,
                **overrides,
            }
        )
        replicas.append(replica)
        return replica

    yield make
    for replica in replicas:
        link_cache.shutdown(replica)
        with replica.app_context():
            db.session.remove()
            db.engine.dispose()


class QueryCounter:
    """Records every SQL statement sent through an engine while active."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app: Flask) -> Iterator[QueryCounter]:
    """Counts the SQL statements ``app`` sends from now until the end of the test."""
    counter = QueryCounter()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
