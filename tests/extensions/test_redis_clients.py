"""One Redis factory: the rate limits run on the app's own client, with its timeouts."""

from __future__ import annotations

from flask import Flask

from service.extensions import limiter
from service.extensions.redis_client import RedisClient


def test_the_limiter_shares_the_apps_redis_pool(app: Flask) -> None:
    """Flask-Limiter would otherwise open a pool of its own with no socket timeout, so a
    Redis that stops answering would hang every rate-limited request."""
    with app.app_context():
        pool = limiter.storage.storage.connection_pool  # type: ignore[attr-defined]
    assert pool is RedisClient.for_app(app).connection_pool
    assert pool.connection_kwargs["socket_timeout"] == app.config["REDIS_SOCKET_TIMEOUT"]
