"""The Redis client extension: one connection pool per process, made lazily after fork."""

from __future__ import annotations

import os
from typing import Any

import redis
from flask import Flask, current_app


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
            self._client = redis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                max_connections=self.max_connections,
                health_check_interval=30,
            )
            self._pid = os.getpid()
        return self._client
