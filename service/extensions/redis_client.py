"""Every Redis client of the service is made here: :func:`make_redis` (normal or fail-fast)
and the app's shared client, one connection pool per process, made lazily after fork."""

from __future__ import annotations

import os
from typing import Any

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry


def make_redis(
    url: str,
    *,
    timeout: float,
    connect_timeout: float | None = None,
    fail_fast: bool = False,
    max_connections: int | None = None,
    health_check_interval: int = 30,
) -> redis.Redis:
    """A client for ``url``; nothing connects until its first command.

    ``fail_fast`` turns off redis-py's retries, for callers that fall back or back off on
    their own (the link cache, the shipper, the salt): a retry loop there is worse than an
    error. ``timeout`` is the read timeout, ``connect_timeout`` (default: ``timeout``) the
    connect one.
    """
    options: dict[str, Any] = {}
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 0)
    if max_connections is not None:
        options["max_connections"] = max_connections
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout if connect_timeout is None else connect_timeout,
        health_check_interval=health_check_interval,
        **options,
    )


class RedisClient:
    """Owns the app's ``redis.Redis``; reach it as ``redis_client.client`` in a request.

    Nothing connects in :meth:`init_app`: redis-py opens sockets on first use, and the
    pool is rebuilt when the process id changes, so a pool made before a fork is never
    shared by two processes.

    Config keys read: ``REDIS_URL``, ``REDIS_SOCKET_TIMEOUT`` (seconds),
    ``REDIS_MAX_CONNECTIONS``.
    """

    extension_name = "linkfleet.redis"

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.extension_name in app.extensions:
            raise RuntimeError("RedisClient is already registered on this app")
        app.config.setdefault("REDIS_SOCKET_TIMEOUT", 1.0)
        app.config.setdefault("REDIS_MAX_CONNECTIONS", 200)
        app.extensions[self.extension_name] = _State(app.config)

    def shutdown(self, app: Flask, *, flush: bool = True) -> None:
        """Close this process's connections (a later command reconnects)."""
        state: _State = app.extensions[self.extension_name]
        if state._client is not None and state._pid == os.getpid():
            state._client.connection_pool.disconnect()

    @staticmethod
    def for_app(app: Flask) -> redis.Redis:
        """The client of ``app`` (for code that holds the app, e.g. the session interface)."""
        state: _State = app.extensions[RedisClient.extension_name]
        return state.client

    @property
    def client(self) -> redis.Redis:
        """The current app's client."""
        return self.for_app(current_app._get_current_object())  # type: ignore[attr-defined]


class _State:
    """Per-app state: the settings and, per process, the client."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["REDIS_URL"]
        self.timeout: float = float(config["REDIS_SOCKET_TIMEOUT"])
        self.max_connections: int = int(config["REDIS_MAX_CONNECTIONS"])
        self._client: redis.Redis | None = None
        self._pid = 0

    @property
    def client(self) -> redis.Redis:
        if self._client is None or self._pid != os.getpid():
            self._client = make_redis(
                self.url, timeout=self.timeout, max_connections=self.max_connections
            )
            self._pid = os.getpid()
        return self._client
