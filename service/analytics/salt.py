"""The visitor-hash salt: random per UTC day, shared by every replica through Redis, then gone.

The first replica that needs day D's salt creates it (``SET NX`` of 32 random bytes, with a
TTL of ``ANALYTICS_SALT_TTL``, two days by default); every other replica reads the same value.
Each process keeps the salt of the current day in memory and forgets it when the day changes.
Nothing derives it from ``SECRET_KEY`` or anything else, so once Redis has expired the key
no one, not even an operator holding every secret of the deployment, can recompute a
visitor hash of day D: hashes of two days cannot be linked, and addresses cannot be
recovered by hashing candidates.

Redis unreachable when a process first needs the day's salt: the click is recorded without
a visitor hash (``""``) and the process asks again after ``retry`` seconds. It never falls
back to a salt of its own: two replicas would then hash one visitor differently, and a
derived salt could be recomputed later.
"""

from __future__ import annotations

import os
import threading
import time

import redis

from ..extensions.redis_client import make_redis

#: ``linkfleet:visitor-salt:<days since the epoch>``.
SALT_KEY = "linkfleet:visitor-salt:{day}"
#: Two days: a replica whose clock lags a little still finds yesterday's salt.
DEFAULT_TTL = 2 * 86400


class DailySalts:
    """Day number -> that UTC day's salt, from Redis; cached for the current day only."""

    def __init__(
        self,
        redis_url: str,
        *,
        socket_timeout: float = 1.0,
        ttl: int = DEFAULT_TTL,
        retry: float = 5.0,
    ) -> None:
        self.redis_url = redis_url
        self.socket_timeout = socket_timeout
        self.ttl = ttl
        self.retry = retry
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        #: (day, salt) in one attribute, so the click path reads both without the lock.
        self._current: tuple[int, bytes | None] = (-1, None)
        self._retry_at = 0.0

    @property
    def client(self) -> redis.Redis:
        """A fail-fast client (made on first use: nothing connects at import or init)."""
        if self._client is None:
            self._client = make_redis(self.redis_url, timeout=self.socket_timeout, fail_fast=True)
        return self._client

    def get(self, day: int) -> bytes | None:
        """Day ``day``'s salt, or None while Redis cannot be asked (no visitor hash then).

        The known salt is read without the lock; fetching takes it, so the clicks that arrive
        together at the start of a day (or of a process) cost one Redis round trip and one
        connection, not one each.
        """
        current_day, current = self._current
        if day == current_day and current is not None:
            return current
        with self._lock:
            current_day, current = self._current
            if day == current_day and (current is not None or time.monotonic() < self._retry_at):
                return current
            if day < current_day:  # a click of the day before: its salt, not kept
                return self._fetch(day)
            salt = self._fetch(day)
            self._current = (day, salt)
            self._retry_at = time.monotonic() + self.retry
        return salt

    def _fetch(self, day: int) -> bytes | None:
        key = SALT_KEY.format(day=day)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(key, os.urandom(32).hex(), nx=True, ex=self.ttl)
            pipe.get(key)
            _, value = pipe.execute()
        except redis.RedisError:
            return None
        if not isinstance(value, bytes) or len(value) != 64:
            return None  # someone wrote something else there: record no hash
        try:
            return bytes.fromhex(value.decode())
        except ValueError:
            return None
