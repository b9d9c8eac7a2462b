"""Rate limits kept in Redis, so every replica counts against the same budget.

Two kinds: Flask-Limiter's decorators (``@limiter.limit``) for requests, and
:class:`FailureBudget` for the failures that would otherwise cost the database a lookup at
a rate the client chooses (unknown slugs, invalid API keys): the budget is checked *before*
the lookup and spent only when the lookup failed.

Clients are keyed by :func:`client_key`, a pseudonym, never the raw address: rate-limit keys
live in Redis and its persistence files.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import redis
from cachetools import TTLCache
from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import parse

from .redis_client import RedisClient

#: Prefix of the failure counters (``linkfleet:failures:<budget>:<client key>``).
FAILURE_PREFIX = "linkfleet:failures:"


def client_key() -> str:
    """The client as rate limits see it: a keyed hash of its network (an IPv4 address, an
    IPv6 /64, since one host is usually given a whole /64), never the address itself."""
    secret = str(current_app.config.get("SECRET_KEY") or "")
    return _pseudonym(secret, request.client_ip)  # type: ignore[attr-defined]


@lru_cache(maxsize=16384)
def _pseudonym(secret: str, address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        network = address
    else:
        prefix = 64 if ip.version == 6 else 32
        network = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    digest = hmac.digest(secret.encode(), b"linkfleet-client:" + network.encode(), hashlib.sha256)
    return digest[:12].hex()


#: Flask-Limiter's key function (kept under its old name for the limiter's construction).
client_ip_key = client_key


def init_rate_limits(limiter: Limiter, app: Flask) -> None:
    """Point Flask-Limiter at the app's Redis client unless a storage was configured
    explicitly: the limits share its connection pool (timeouts, TLS and size from the one
    Redis factory) instead of opening a pool of their own without a timeout.

    Config keys read: ``REDIS_URL``, ``RATELIMIT_*`` (Flask-Limiter's own).
    """
    if "RATELIMIT_STORAGE_URI" not in app.config:
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]
        pool = RedisClient.for_app(app).connection_pool
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"connection_pool": pool})
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "linkfleet:ratelimit")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    _only_decorated_limits(limiter, app)


def _only_decorated_limits(limiter: Limiter, app: Flask) -> None:
    """Drop Flask-Limiter's per-request hook: it enforces default and application-wide
    limits, which we do not use, and cost about 15% of a redirect's CPU time resolving
    exemptions. Limits set with ``@limiter.limit`` are enforced by the decorator itself."""
    if app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION"):
        return  # someone configured global limits: keep the hook that enforces them
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [
        hook for hook in hooks if getattr(hook, "__self__", None) is not limiter
    ]


_T = TypeVar("_T")


class BudgetSpent(Exception):
    """The client has no failures left in this window; ``retry_after`` seconds until it has."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class FailureBudget:
    """At most ``limit`` failures per client per window (``"30 per minute"``), in Redis.

    A fixed window, started by the client's first failure, shared by every replica. While
    Redis cannot be reached each process counts on its own (a bounded in-memory table), so
    the bound holds per process instead of failing open.
    """

    def __init__(self, name: str, limit: str) -> None:
        item = parse(limit)
        self.name = name
        self.amount = int(item.amount)
        self.window = int(item.get_expiry())
        self._local: TTLCache[str, int] = TTLCache(maxsize=65536, ttl=self.window)
        self._lock = threading.Lock()

    def _key(self, who: str) -> str:
        return f"{FAILURE_PREFIX}{self.name}:{who}"

    def retry_after(self, client: redis.Redis | None, who: str) -> int:
        """0 while ``who`` may fail again, else the seconds until the window ends."""
        if client is not None:
            try:
                pipe = client.pipeline(transaction=False)
                pipe.get(self._key(who))
                pipe.ttl(self._key(who))
                count, ttl = pipe.execute()
            except redis.RedisError:
                pass
            else:
                if count is not None and int(count) >= self.amount:
                    return max(1, int(ttl))
                return 0
        with self._lock:
            spent = self._local.get(who, 0)
        return self.window if spent >= self.amount else 0

    def spend(self, client: redis.Redis | None, who: str) -> None:
        """Count one failure of ``who``."""
        if client is not None:
            try:
                pipe = client.pipeline(transaction=False)
                pipe.incr(self._key(who))
                pipe.expire(self._key(who), self.window, nx=True)
                pipe.execute()
                return
            except redis.RedisError:
                pass
        with self._lock:
            self._local[who] = self._local.get(who, 0) + 1

    def attempt(
        self, client: redis.Redis | None, who: str, check: Callable[[], _T | None]
    ) -> _T | None:
        """``check()`` on ``who``'s budget: :class:`BudgetSpent` before it runs when the budget
        is spent; a None result (the credentials were wrong) spends one failure."""
        wait = self.retry_after(client, who)
        if wait:
            raise BudgetSpent(wait)
        result = check()
        if result is None:
            self.spend(client, who)
        return result

    def __repr__(self) -> str:
        return f"FailureBudget({self.name!r}, {self.amount} per {self.window}s)"


__all__ = ["BudgetSpent", "FailureBudget", "client_ip_key", "client_key", "init_rate_limits"]
