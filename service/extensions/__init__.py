"""Every extension instance of the service, and the order :func:`service.create_app`
registers them in (:func:`ordered`). Each is a class with ``init_app`` that keeps its state in
``app.extensions``; none holds an app or connects to anything at import time.

``link_cache``, ``analytics`` and ``webhooks`` are made here on first use
(:func:`__getattr__`): their classes live in feature packages that import this module, so
importing them at import time would be a cycle, and gunicorn's master, which imports
``service`` before forking, loads none of them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask
from flask_limiter import Limiter
from flask_wtf import CSRFProtect

from .database import db, init_database, migrations, read_replicas
from .json_logging import JsonLogging
from .metrics import Metrics
from .rate_limits import client_ip_key, init_rate_limits
from .redis_client import RedisClient
from .sessions import LazySessionLoginManager, RedisSessions

if TYPE_CHECKING:
    from ..analytics.extension import Analytics
    from ..links.cache import LinkCache
    from ..webhooks.extension import Webhooks

    link_cache: LinkCache
    analytics: Analytics
    webhooks: Webhooks


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
        """Close the pooled connections of this process, read replicas' included."""
        read_replicas.dispose(app)
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


_made = threading.Lock()
_link_cache: LinkCache | None = None
_analytics: Analytics | None = None
_webhooks: Webhooks | None = None


def _the_link_cache() -> LinkCache:
    global _link_cache
    # Outside the lock: this import may come back here (its package imports the instance).
    from ..links.cache import LinkCache

    with _made:
        if _link_cache is None:
            _link_cache = LinkCache()
        return _link_cache


def _the_analytics() -> Analytics:
    global _analytics
    from ..analytics.extension import Analytics

    with _made:
        if _analytics is None:
            _analytics = Analytics()
        return _analytics


def _the_webhooks() -> Webhooks:
    global _webhooks
    from ..webhooks.extension import Webhooks

    with _made:
        if _webhooks is None:
            _webhooks = Webhooks()
        return _webhooks


def __getattr__(name: str) -> object:
    """``link_cache``, ``analytics`` and ``webhooks``, made once, on first use (see the
    module docstring)."""
    if name == "link_cache":
        return _the_link_cache()
    if name == "analytics":
        return _the_analytics()
    if name == "webhooks":
        return _the_webhooks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ordered() -> tuple[Extension, ...]:
    """Every extension in registration order: logging first (so later steps can log), then
    Redis and what stands on it, the database, the link cache, analytics and webhooks (on
    both), then the per-request ones."""
    return (
        json_logging,
        redis_client,
        sessions,
        database,
        _the_link_cache(),
        _the_analytics(),
        _the_webhooks(),
        metrics,
        csrf,
        rate_limits,
        login,
    )


__all__ = [
    "Extension",
    "analytics",
    "csrf",
    "database",
    "db",
    "json_logging",
    "limiter",
    "link_cache",
    "login",
    "login_manager",
    "metrics",
    "migrations",
    "ordered",
    "rate_limits",
    "redis_client",
    "sessions",
    "webhooks",
]
