"""In-house Flask extensions: each a class with ``init_app`` that keeps its state in
``app.extensions``. The instances below hold no app and connect to nothing at import time.

:func:`service.create_app` registers them in the order of :func:`ordered`; the link cache and
analytics are defined in their feature packages, which import this module, so they are
imported here on first use rather than at import (no cycle, and gunicorn's master, which
imports ``service`` before forking, loads none of them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask
from flask_limiter import Limiter
from flask_wtf import CSRFProtect

from .database import db, init_database, migrate
from .json_logging import JsonLogging
from .metrics import Metrics
from .rate_limits import client_ip_key, init_rate_limits
from .redis_client import RedisClient
from .sessions import LazySessionLoginManager, RedisSessions

if TYPE_CHECKING:
    from ..analytics.extension import Analytics
    from ..links.cache import LinkCache


class Extension(Protocol):
    """What :func:`service.create_app` registers; ``shutdown(app, *, flush)``, when an
    extension has one, is called by :meth:`service.app.LinkFleet.shutdown`."""

    def init_app(self, app: Flask) -> Any: ...


class Database:
    """Flask-SQLAlchemy, Flask-Migrate and the read replicas (see :func:`.database.init_database`),
    with every model imported so that metadata and Alembic know every table."""

    def init_app(self, app: Flask) -> None:
        init_database(app)
        from .. import models  # noqa: F401

    def shutdown(self, app: Flask, *, flush: bool = True) -> None:
        """Close the pooled connections of this process."""
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


class RateLimits:
    """Flask-Limiter on the app's Redis, enforcing only ``@limiter.limit`` decorators."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def init_app(self, app: Flask) -> None:
        init_rate_limits(self.limiter, app)


class Login:
    """Flask-Login with the dashboard's login page and the user loader of ``accounts``."""

    def __init__(self, manager: LazySessionLoginManager) -> None:
        self.manager = manager

    def init_app(self, app: Flask) -> None:
        from ..accounts.auth import init_login

        init_login(self.manager, app)


redis_client = RedisClient()
json_logging = JsonLogging()
metrics = Metrics()
sessions = RedisSessions()
database = Database()
csrf = CSRFProtect()
limiter = Limiter(client_ip_key)
rate_limits = RateLimits(limiter)
login_manager = LazySessionLoginManager()
login = Login(login_manager)


def feature_extensions() -> tuple[LinkCache, Analytics]:
    """The link cache and analytics: defined in their packages, which import this module."""
    from ..analytics.extension import analytics
    from ..links.cache import link_cache

    return link_cache, analytics


def ordered() -> tuple[Extension, ...]:
    """Every extension in registration order: logging first (so later steps can log), then
    Redis and what stands on it, the database, the link cache and analytics (on both), then
    the per-request ones."""
    link_cache, analytics = feature_extensions()
    return (
        json_logging,
        redis_client,
        sessions,
        database,
        link_cache,
        analytics,
        metrics,
        csrf,
        rate_limits,
        login,
    )


__all__ = [
    "Extension",
    "csrf",
    "database",
    "db",
    "feature_extensions",
    "json_logging",
    "limiter",
    "login",
    "login_manager",
    "metrics",
    "migrate",
    "ordered",
    "rate_limits",
    "redis_client",
    "sessions",
]
