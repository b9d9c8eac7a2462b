"""Live visits: the worker's per-link counts, fanned out to Server-Sent Events streams.

After each committed batch the worker publishes the batch's newly counted clicks per link
id on :data:`CHANNEL` (:func:`publish_counts`, one ``PUBLISH`` per batch). Each process of
the app subscribes once, with one background listener (a greenlet under gevent, as the
link cache's invalidation listener), on the first stream it opens; every open stream is a
bounded queue the listener puts its links' counts into, so a stream costs no thread, no
Redis connection and no database connection of its own.

A stream (:meth:`LiveHub.stream`) sends ``retry:`` first, then an ``event: clicks`` per
batch that counted its links, a comment every ``LIVE_HEARTBEAT_S`` (15 s: proxies and
browsers keep the connection open, and a vanished client is noticed at the next write),
and ends after ``LIVE_MAX_LIFETIME_S`` (the browser reconnects, to any replica) or when the
process is told to stop. At most ``LIVE_MAX_STREAMS`` are open per process (one gevent
worker per replica: per replica); beyond that the view answers 503 with ``Retry-After`` and
the page falls back to polling its JSON summary.

Live counts are best-effort: a batch published while a process was not subscribed is not
replayed (the page's numbers are the database's again at its next summary or reload).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import redis
from flask import Flask

from ..extensions.pubsub import ChannelListener

logger = logging.getLogger(__name__)

#: The Redis channel of per-link click counts (JSON: ``{"<link id>": clicks, ...}``).
CHANNEL = "linkfleet:live-clicks"
#: Key of the hub in ``app.extensions``.
EXTENSION_NAME = "linkfleet.live"
#: Batches a stream may have waiting before the oldest are merged (a slow client).
QUEUE_SIZE = 64


def publish_counts(client: redis.Redis, clicks: dict[int, int]) -> None:
    """Announce a committed batch's clicks per link id (the worker; never raises: the
    clicks are counted, only the live pages miss them)."""
    try:
        client.publish(CHANNEL, json.dumps({str(link): n for link, n in clicks.items()}))
    except redis.RedisError as error:
        logger.warning("live visits: could not publish a batch's counts (%s)", error)


def parse_counts(data: bytes | str) -> dict[int, int]:
    """The counts of a message on :data:`CHANNEL`; ``{}`` for anything malformed."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    counts: dict[int, int] = {}
    for key, value in raw.items():
        if isinstance(key, str) and key.isdigit() and type(value) is int and value > 0:
            counts[int(key)] = value
    return counts


class StreamsFull(Exception):
    """This process already holds ``LIVE_MAX_STREAMS`` open streams."""


class _Subscriber:
    """One open stream: the links it follows (None: all) and its queue of counts."""

    def __init__(self, links: frozenset[int] | None) -> None:
        self.links = links
        self.queue: queue.Queue[dict[int, int] | None] = queue.Queue(QUEUE_SIZE)

    def offer(self, counts: dict[int, int]) -> None:
        mine = (
            counts if self.links is None else {k: v for k, v in counts.items() if k in self.links}
        )
        if not mine:
            return
        try:
            self.queue.put_nowait(mine)
        except queue.Full:  # a client that does not read: merge what waits into one
            merged: dict[int, int] = dict(mine)
            with contextlib.suppress(queue.Empty):
                while True:
                    item = self.queue.get_nowait()
                    for key, value in (item or {}).items():
                        merged[key] = merged.get(key, 0) + value
            self.queue.put_nowait(merged)


class LiveHub:
    """Per-app, per-process state: the open streams and the one listener feeding them.

    Config keys read: ``LIVE_MAX_STREAMS``, ``LIVE_HEARTBEAT_S``, ``LIVE_MAX_LIFETIME_S``
    (``LINKFLEET_LIVE_*`` settings, :mod:`service.config`), ``LIVE_RETRY_MS`` (3000) and
    ``LIVE_POLL_S`` (10, the page's fallback period; defaults set by :func:`init_live`),
    ``REDIS_URL``.
    """

    def __init__(self, config: Any) -> None:
        self.redis_url = str(config["REDIS_URL"])
        self.max_streams = int(config["LIVE_MAX_STREAMS"])
        self.heartbeat = float(config["LIVE_HEARTBEAT_S"])
        self.lifetime = float(config["LIVE_MAX_LIFETIME_S"])
        self.retry_ms = int(config["LIVE_RETRY_MS"])
        self.lock = threading.Lock()
        self.subscribers: set[_Subscriber] = set()
        self.stopping = threading.Event()
        self.listener: _Listener | None = None
        self.listener_pid = 0

    # -- streams ---------------------------------------------------------------------------

    def open(self, links: frozenset[int] | None) -> _Subscriber:
        """Reserve a stream slot for ``links`` (None: every link); :class:`StreamsFull`
        when there is none. Release it with :meth:`close`."""
        with self.lock:
            if len(self.subscribers) >= self.max_streams:
                raise StreamsFull()
            subscriber = _Subscriber(links)
            self.subscribers.add(subscriber)
        self._ensure_listener()
        return subscriber

    def close(self, subscriber: _Subscriber) -> None:
        with self.lock:
            self.subscribers.discard(subscriber)

    @property
    def open_streams(self) -> int:
        return len(self.subscribers)

    def stream(self, subscriber: _Subscriber) -> Iterator[bytes]:
        """The body of one stream (runs outside any request context; see the module
        docstring). Ends after the lifetime, or at once when the hub stops; gives its slot
        back when it ends or is closed."""
        try:
            yield from self._events(subscriber)
        finally:  # also when the server closes the body early (the client went away)
            self.close(subscriber)

    def _events(self, subscriber: _Subscriber) -> Iterator[bytes]:
        yield f"retry: {self.retry_ms}\n: linkfleet live visits\n\n".encode()
        deadline = time.monotonic() + self.lifetime
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                counts = subscriber.queue.get(timeout=min(self.heartbeat, left))
            except queue.Empty:
                yield b": heartbeat\n\n"
                continue
            if counts is None:  # the hub is stopping
                break
            body = {"visits": sum(counts.values()), "links": {str(k): v for k, v in counts.items()}}
            yield f"event: clicks\ndata: {json.dumps(body)}\n\n".encode()
        yield b"event: bye\ndata: {}\n\n"

    # -- the listener ----------------------------------------------------------------------

    def _ensure_listener(self) -> None:
        """Start this process's listener (lazily, after any fork)."""
        with self.lock:
            if self.listener_pid == os.getpid() or self.stopping.is_set():
                return
            self.listener = _Listener(weakref.ref(self), self.redis_url)
            self.listener_pid = os.getpid()
        self.listener.start()

    def deliver(self, counts: dict[int, int]) -> None:
        with self.lock:
            subscribers = list(self.subscribers)
        for subscriber in subscribers:
            subscriber.offer(counts)

    @property
    def listening(self) -> bool:
        listener = self.listener
        return listener is not None and listener.subscribed.is_set()

    def end_streams(self) -> None:
        """End every open stream now (SIGTERM: gunicorn can then drain)."""
        self.stopping.set()
        with self.lock:
            subscribers = list(self.subscribers)
        for subscriber in subscribers:
            with contextlib.suppress(queue.Full):
                subscriber.queue.put_nowait(None)

    def stop(self) -> None:
        """End the streams and the listener (app shutdown, tests)."""
        self.end_streams()
        listener, self.listener = self.listener, None
        self.listener_pid = 0
        if listener is not None:
            listener.stop()


class _Listener(ChannelListener[LiveHub]):
    """Hands each message of :data:`CHANNEL` to the hub."""

    log = logger

    def __init__(self, hub: weakref.ref[LiveHub], redis_url: str) -> None:
        from ..extensions.redis_client import make_redis

        client = make_redis(redis_url, timeout=self.poll_interval + 5, connect_timeout=2)
        super().__init__("live visits: listener", CHANNEL, hub, client, owns_client=True)

    def on_message(self, owner: LiveHub, data: bytes) -> None:
        counts = parse_counts(data)
        if counts:
            owner.deliver(counts)


def init_live(app: Flask) -> None:
    """Set the page-side defaults and put this app's hub in ``app.extensions``."""
    config = app.config
    config.setdefault("LIVE_RETRY_MS", 3000)
    config.setdefault("LIVE_POLL_S", 10.0)
    app.extensions[EXTENSION_NAME] = LiveHub(config)


def hub_of(app: Any) -> LiveHub | None:
    """The live hub of ``app`` (None when analytics is not registered)."""
    return getattr(app, "extensions", {}).get(EXTENSION_NAME)


__all__ = [
    "CHANNEL",
    "LiveHub",
    "StreamsFull",
    "hub_of",
    "init_live",
    "parse_counts",
    "publish_counts",
]
