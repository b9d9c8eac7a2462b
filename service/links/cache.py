"""The two-tier link cache that keeps the redirect hot path off the database.

* L1: a bounded per-process TTL cache of immutable :class:`LinkRecord` values. A hit costs
  a dict lookup under a lock. It holds no "no such slug" entries: a negative entry in one
  process's memory could only be evicted by a message that arrives late, and a link just
  created would answer 404 there.
* L2: Flask-Caching's ``RedisCache`` shared by all replicas, values stored as JSON (never
  pickle: whoever can write to Redis must not be able to run code in the app), with short
  negative entries for unknown slugs.
* The database only on a miss in both, and for a client at most ``LINK_NOT_FOUND_LIMIT``
  times per window with no link found (:class:`~..extensions.rate_limits.FailureBudget`):
  past that, its double misses answer 429 without a query, so a flood of made-up slugs
  cannot reach the database at a rate the client chooses.

Edits reach every replica through Redis pub/sub: the writer bumps :data:`GENERATION_KEY`,
deletes the L2 entry and publishes the slug on :data:`INVALIDATE_CHANNEL`, all before the
write call returns; each process runs a listener (a daemon thread, a greenlet under gevent)
that evicts its L1 entry. A reader fills L2 only if the generation it read *before* its
query is still current (one Lua script), so a reader that raced the change cannot write the
old state back: in particular a created or renamed slug never answers 404, on any replica,
once the call that made it has returned. A second delete-and-publish half a second later is
a backstop for writers that skip the check (an older release during a rolling deploy).
Together: an edited or deleted link stops redirecting the old way on every replica within
one second.

Links are keyed by (domain, slug): :func:`cache_key` is the bare slug on the default domain
(so its keys, L2's and the messages' are what they always were) and ``<host>/<slug>`` on an
added domain (a slug has no ``/``). Negative entries are keyed the same way, so an unknown
slug on one domain says nothing of another. The same channel carries
:data:`DOMAINS_MESSAGE` when a domain is added, changed or removed: every process then drops
its domain map (:mod:`service.domains.registry`) and loads it again on its next lookup.

When Redis is down, lookups fall back to L1 and then the database (L2 is skipped for
``LINK_CACHE_REDIS_RETRY`` seconds after a failure instead of timing out on every request),
and the listener reconnects on its own, clearing L1 because it may have missed messages.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from cachelib.serializers import BaseSerializer
from cachetools import TTLCache
from flask import Flask, current_app, has_request_context
from flask_caching import Cache
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import TooManyRequests
from werkzeug.urls import iri_to_uri

from .. import signals
from ..domains.models import Domain
from ..domains.registry import DomainMap, load_domains, route
from ..extensions import db
from ..extensions.metrics import LINK_CACHE_LOOKUPS
from ..extensions.pubsub import ChannelListener
from ..extensions.rate_limits import FailureBudget, client_key
from ..extensions.redis_client import make_redis
from .models import Link
from .rules import Rule, compile_rules

#: Redis channel on which changed slugs are announced to every replica.
INVALIDATE_CHANNEL = "linkfleet:link-invalidate"
#: Prefix of the L2 keys (``linkfleet:link:<slug>``).
KEY_PREFIX = "linkfleet:link:"
#: Announced on :data:`INVALIDATE_CHANNEL` after a change of the domains (no slug has a NUL).
DOMAINS_MESSAGE = "\x00domains"
#: Bumped by every change of any link; an L2 fill that saw an older value is dropped.
GENERATION_KEY = "linkfleet:link-generation"
#: The answer to a client past its budget of lookups that found nothing.
TOO_MANY_MISSES = "Too many requests for addresses that lead nowhere; try again later."

#: KEYS: the entry, the generation; ARGV: generation seen before the query, value, TTL.
#: Sets the entry only if no change happened since (and nobody filled it meanwhile).
_FILL_SCRIPT = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3], 'NX')
end
return false
"""

logger = logging.getLogger(__name__)

# Which tier answered a lookup (the Grafana cache panels); children bound once, not per hit.
_COUNT_L1 = LINK_CACHE_LOOKUPS.labels("l1")
_COUNT_L2 = LINK_CACHE_LOOKUPS.labels("l2")
_COUNT_NEGATIVE = LINK_CACHE_LOOKUPS.labels("negative")
_COUNT_DB = LINK_CACHE_LOOKUPS.labels("db")

_WIRE_VERSION = 3
#: The L2 value of "there is no such link" (a record is always a list).
_NEGATIVE = 0


def cache_key(slug: str, host: str | None = None) -> str:
    """The cache key of ``slug`` on the domain ``host`` (None: the default domain)."""
    return f"{host}/{slug}" if host else slug


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """What the redirect needs to know about a link, and nothing that needs the database."""

    slug: str
    url: str
    redirect_type: int
    #: Expiry as a Unix timestamp, or None.
    expires_at: float | None
    max_visits: int | None
    password_hash: str | None
    disabled: bool
    #: The link's primary key: what clicks and visit limits are counted under (a slug can
    #: be renamed, and reused after a delete). Always set from the row; not part of
    #: equality, which compares what the redirect serves.
    id: int = field(default=0, compare=False)
    #: The redirect rules, compiled once when the record is built (:mod:`.rules`).
    rules: tuple[Rule, ...] = ()
    #: The redirect appends the visit's query string (:func:`.forwarding.forward_query`).
    forward_query: bool = False
    #: ``url`` in the URI form a ``Location`` header needs, encoded once per cache fill:
    #: werkzeug's per-response IRI-to-URI pass costs the redirect about 2% of its CPU.
    location: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", iri_to_uri(self.url))

    @property
    def has_password(self) -> bool:
        """True when visitors must enter a password first."""
        return self.password_hash is not None

    def is_expired(self, now: float | None = None) -> bool:
        """True once ``expires_at`` has passed."""
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    def to_wire(self) -> list[Any]:
        """The JSON form kept in L2 (a list: compact, versioned)."""
        return [
            _WIRE_VERSION,
            self.slug,
            self.url,
            self.redirect_type,
            self.expires_at,
            self.max_visits,
            self.password_hash,
            self.disabled,
            self.id,
            [rule.stored for rule in self.rules],
            self.forward_query,
        ]

    @classmethod
    def from_wire(cls, value: Any) -> LinkRecord | None:
        """Read :meth:`to_wire` output; None for anything else (treated as a miss).

        An entry written before ``forward_query`` existed (ten items) is a link without it:
        the flag was appended, so the version stayed and those entries still serve."""
        if not isinstance(value, list) or len(value) not in (10, 11) or value[0] != _WIRE_VERSION:
            return None
        try:
            return cls(
                slug=str(value[1]),
                url=str(value[2]),
                redirect_type=int(value[3]),
                expires_at=None if value[4] is None else float(value[4]),
                max_visits=None if value[5] is None else int(value[5]),
                password_hash=None if value[6] is None else str(value[6]),
                disabled=bool(value[7]),
                id=int(value[8]),
                rules=compile_rules(value[9]),
                forward_query=len(value) == 11 and value[10] is True,
            )
        except (TypeError, ValueError):
            return None

    @classmethod
    def from_link(cls, link: Any) -> LinkRecord:
        """From a :class:`~.models.Link` or a row with the same attributes."""
        return cls(
            slug=link.slug,
            url=link.url,
            redirect_type=int(link.redirect_type),
            expires_at=None if link.expires_at is None else link.expires_at.timestamp(),
            max_visits=link.max_visits,
            password_hash=link.password_hash,
            disabled=bool(link.disabled),
            id=int(link.id),
            rules=compile_rules(link.rules),
            forward_query=bool(link.forward_query),
        )


class JsonSerializer(BaseSerializer):
    """Flask-Caching serializer: JSON in and out; anything unreadable is a miss, silently."""

    def dumps(self, value: Any, *args: Any, **kwargs: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, bvalue: bytes | None, *args: Any, **kwargs: Any) -> Any:
        if bvalue is None:
            return None
        try:
            return json.loads(bvalue)
        except ValueError:
            return None


class LinkCache:
    """The two-tier cache as a Flask extension; reach it as ``service.extensions.link_cache``.

    Config keys read (defaults set in :meth:`init_app`):

    ``REDIS_URL``, ``REDIS_SOCKET_TIMEOUT``
        Where L2 and the invalidation channel live; operations give up after the timeout.
    ``LINK_CACHE_L1_SIZE`` (10000), ``LINK_CACHE_L1_TTL`` (300 s; the setting
    ``LINKFLEET_LINK_CACHE_L1_TTL_S``)
        Bound and lifetime of the per-process cache. Invalidation is by message (and a
        reconnecting listener clears L1), so the TTL is only a backstop; a short one would
        send the long tail of a Zipf-shaped link set to L2 on most visits.
    ``LINK_CACHE_L2_TTL`` (600 s)
        Lifetime of the Redis entries, a safety net behind explicit invalidation.
    ``LINK_CACHE_NEGATIVE_TTL`` (5 s)
        Lifetime of "no such slug" entries in L2.
    ``LINK_NOT_FOUND_LIMIT`` ("30 per minute")
        Double misses that found no link, per client (IPv4 address, IPv6 /64), before its
        further double misses answer 429 without a database query.
    ``LINK_CACHE_REDIS_RETRY`` (1 s)
        How long lookups skip L2 after a Redis error.
    ``LINK_CACHE_REINVALIDATE_DELAY`` (0.5 s)
        Delay of the second delete-and-publish after a change; 0 turns it off.
    """

    extension_name = "linkfleet.link_cache"

    def __init__(self, app: Flask | None = None) -> None:
        # One Flask-Caching object for every app, as Flask-Caching allows; the backend of
        # each app lives in ``app.extensions["cache"][self._l2]``.
        self._l2 = Cache(with_jinja2_ext=False)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.extension_name in app.extensions:
            raise RuntimeError("LinkCache is already registered on this app")
        config = app.config
        config.setdefault("REDIS_SOCKET_TIMEOUT", 1.0)
        config.setdefault("LINK_CACHE_L1_SIZE", 10_000)
        config.setdefault("LINK_CACHE_L1_TTL", 300.0)
        config.setdefault("LINK_CACHE_L2_TTL", 600)
        config.setdefault("LINK_CACHE_NEGATIVE_TTL", 5)
        config.setdefault("LINK_CACHE_REDIS_RETRY", 1.0)
        config.setdefault("LINK_CACHE_REINVALIDATE_DELAY", 0.5)
        config.setdefault("LINK_NOT_FOUND_LIMIT", "30 per minute")
        timeout = float(config["REDIS_SOCKET_TIMEOUT"])
        # Its own client, failing fast: on the hot path a retry loop would be worse than
        # falling back to the database. Nothing connects until the first command.
        client = make_redis(
            config["REDIS_URL"], timeout=timeout, fail_fast=True, health_check_interval=10
        )
        self._l2.init_app(
            app,
            config={
                "CACHE_TYPE": "RedisCache",
                "CACHE_REDIS_HOST": client,
                "CACHE_REDIS_URL": None,
                "CACHE_OPTIONS": None,
                "CACHE_ARGS": [],
                "CACHE_KEY_PREFIX": KEY_PREFIX,
                "CACHE_DEFAULT_TIMEOUT": int(config["LINK_CACHE_L2_TTL"]),
                "CACHE_SERIALIZER": JsonSerializer,
            },
        )
        backend = app.extensions["cache"][self._l2]
        app.extensions[self.extension_name] = _State(config, client, backend)
        for signal in (signals.link_created, signals.link_updated, signals.link_deleted):
            signal.connect(self._on_link_changed, sender=app)
        signals.links_written.connect(self._on_links_written, sender=app)

    # -- API used by the views and the write services ---------------------------------------

    @staticmethod
    def state(app: Flask) -> _State:
        """The per-app state (L1, L2 backend, listener)."""
        return app.extensions[LinkCache.extension_name]  # type: ignore[no-any-return]

    def _current(self) -> _State:
        return self.state(current_app._get_current_object())  # type: ignore[attr-defined]

    def lookup(self, slug: str, host: str | None = None) -> LinkRecord | None:
        """The record of ``slug`` on the domain ``host`` (None: the default domain), or None
        when no such link exists (L1, then L2, then DB).

        In a request, a double miss first checks the client's budget of lookups that found
        nothing and raises :class:`~werkzeug.exceptions.TooManyRequests` once it is spent.
        """
        return self._current().lookup(cache_key(slug, host))

    def peek(self, app: Flask, slug: str, raw_host: str | None = None) -> LinkRecord | None:
        """The L1 record of ``slug`` in this process, else None (absent or negative): no fill,
        no count, no context (the redirect lane counts what it serves). With ``raw_host`` (a
        ``Host`` header), on the domain it names: one dict lookup of the header once it has
        been seen; None for an unknown host or before this process loaded its domain map."""
        state = self.state(app)
        if state.listener_pid != os.getpid():
            return None  # no listener here yet: only a full lookup starts it
        key = slug
        if raw_host is not None:
            domain = route(state.domain_map, raw_host, app.config)
            if domain is None:
                return None
            if domain.prefix:
                key = domain.prefix + slug
        with state.lock:
            return state.l1.get(key)

    def domain_map(self, app: Flask) -> DomainMap:
        """This process's domain map of ``app``, loaded (a query) when it is not; the one
        loaded even if the listener has dropped it meanwhile, so one lookup sees one map.
        Its ``domains`` are None only while the database cannot be read."""
        state = self.state(app)
        if state.listener_pid != os.getpid():
            state.start_listener()
        loaded = state.domain_map
        return state.load_domains() if loaded.domains is None else loaded

    def domains_changed(self) -> None:
        """Make every process (this one at once) reload its domain map."""
        self._current().announce_domains()

    def invalidate(self, *keys: str) -> None:
        """Forget ``keys`` (:func:`cache_key`) here, in L2 and (through pub/sub) on every
        other replica."""
        self._current().invalidate(keys)

    @property
    def redis(self) -> redis.Redis:
        """The current app's fail-fast Redis client (also used for visit counters)."""
        return self._current().redis

    def listening(self, app: Flask) -> bool:
        """True while this process's listener of ``app`` is subscribed."""
        listener = self.state(app).listener
        return listener is not None and listener.subscribed.is_set()

    def shutdown(self, app: Flask, *, flush: bool = True) -> None:
        """Stop the listener and pending re-invalidations of ``app`` (tests, clean exits);
        ``flush`` is part of the shutdown signature and has nothing to flush here."""
        self.state(app).stop()

    def _on_link_changed(self, sender: Flask, **kwargs: Any) -> None:
        """Signal receiver: evict the link's old and new (domain, slug) everywhere; ``host``
        is the old domain's (None: the default domain)."""
        keys = set()
        if kwargs.get("slug"):
            keys.add(cache_key(kwargs["slug"], kwargs.get("host")))
        link = kwargs.get("link")
        if link is not None:
            keys.add(cache_key(link.slug, link.host))
        self.state(sender).invalidate(keys)

    def _on_links_written(self, sender: Flask, **kwargs: Any) -> None:
        """Signal receiver: evict a whole written batch everywhere, in one broadcast
        (``keys`` when the batch names them, else its slugs on the default domain)."""
        keys = kwargs.get("keys")
        if keys is None:
            keys = [*kwargs.get("created", ()), *kwargs.get("updated", ())]
        self.state(sender).invalidate(keys)


class _State:
    """Per-app, per-process cache state; a forked child starts its own listener."""

    def __init__(self, config: Any, client: redis.Redis, backend: Any) -> None:
        self.redis = client
        self.l2 = backend
        self.l1_ttl = float(config["LINK_CACHE_L1_TTL"])
        self.l2_ttl = int(config["LINK_CACHE_L2_TTL"])
        self.negative_ttl = float(config["LINK_CACHE_NEGATIVE_TTL"])
        self.redis_retry = float(config["LINK_CACHE_REDIS_RETRY"])
        self.reinvalidate_delay = float(config["LINK_CACHE_REINVALIDATE_DELAY"])
        self.misses = FailureBudget("not-found", str(config["LINK_NOT_FOUND_LIMIT"]))
        self.fill = client.register_script(_FILL_SCRIPT)
        self.l1: TTLCache[str, LinkRecord] = TTLCache(
            maxsize=int(config["LINK_CACHE_L1_SIZE"]), ttl=self.l1_ttl
        )
        self.lock = threading.Lock()
        #: Bumped by every eviction; a fill that saw another value may be stale and is dropped.
        self.generation = 0
        #: L2 is skipped until this ``time.monotonic()`` value after a Redis error.
        self.l2_retry_at = 0.0
        self.listener: _Listener | None = None
        self.listener_pid = 0
        #: Slugs to broadcast a second time, with the ``time.monotonic()`` they are due at.
        self.pending: dict[str, float] = {}
        self.timer: threading.Timer | None = None
        #: This process's added domains and the raw ``Host`` headers resolved with them,
        #: replaced whole (one attribute: a reader never pairs one map with another's
        #: hosts), and a counter bumped whenever the map is dropped.
        self.domain_map = DomainMap()
        self.domains_generation = 0

    # -- domains ------------------------------------------------------------------------------

    def load_domains(self) -> DomainMap:
        """Load the domain map and return it; one that a change raced is loaded again (then
        kept). With the database down the map stays unloaded (the next lookup tries again),
        and :func:`~service.domains.registry.domain_for` takes every host as the default one
        meanwhile, so that cached links and health checks keep answering."""
        loaded = DomainMap()
        for attempt in range(3):
            generation = self.domains_generation
            try:
                loaded = DomainMap(load_domains())
            except SQLAlchemyError as error:
                db.session.rollback()
                logger.warning("link cache: could not load the domains (%s)", error)
                return loaded
            with self.lock:
                if generation == self.domains_generation or attempt == 2:
                    self.domain_map = loaded
                    break
        return loaded

    def forget_domains(self) -> None:
        """Drop the domain map and the resolved hosts (a domain changed somewhere)."""
        with self.lock:
            self.domains_generation += 1
            self.domain_map = DomainMap()

    def announce_domains(self) -> None:
        """Forget the domains here and tell every other process to."""
        self.forget_domains()
        try:
            self.redis.publish(INVALIDATE_CHANNEL, DOMAINS_MESSAGE)
        except redis.RedisError as error:
            logger.warning(
                "link cache: could not announce a domain change (%s); other replicas keep "
                "their domain maps until they reconnect to Redis",
                error,
            )

    # -- reads --------------------------------------------------------------------------------

    def lookup(self, slug: str) -> LinkRecord | None:
        """``slug`` is a :func:`cache_key`."""
        if self.listener_pid != os.getpid():
            self.start_listener()
        if self.domain_map.domains is None:
            self.load_domains()  # the redirect lane resolves hosts from it
        with self.lock:
            entry = self.l1.get(slug)
        if entry is not None:
            _COUNT_L1.inc()
            return entry
        generation = self.generation
        found, record = self._from_l2(slug)
        if found:
            (_COUNT_NEGATIVE if record is None else _COUNT_L2).inc()
        else:
            record = self._from_db_within_budget(slug)
        if record is not None:
            with self.lock:
                if self.generation == generation:
                    self.l1[slug] = record
        return record

    def _from_db_within_budget(self, slug: str) -> LinkRecord | None:
        """The database's answer, filled into L2 unless a change raced the query; in a
        request, only while the client has lookups that found nothing left."""
        seen = self._generation()
        client = None if time.monotonic() < self.l2_retry_at else self.redis
        who = client_key() if has_request_context() else None
        if who is not None:
            wait = self.misses.retry_after(client, who)
            if wait:
                raise TooManyRequests(TOO_MANY_MISSES, retry_after=wait)
        record = self._from_db(slug)
        _COUNT_DB.inc()
        if seen is not None:
            self._to_l2(slug, record, seen)
        if record is None and who is not None:
            self.misses.spend(client, who)
        return record

    def _generation(self) -> str | None:
        """The shared change counter as text (``""`` before any change); None if unknown."""
        if time.monotonic() < self.l2_retry_at:
            return None
        try:
            value = self.redis.get(GENERATION_KEY)
        except redis.RedisError as error:
            self._redis_failed("read from", error)
            return None
        if value is None:
            return ""
        return value.decode() if isinstance(value, bytes) else str(value)

    def _from_l2(self, slug: str) -> tuple[bool, LinkRecord | None]:
        if time.monotonic() < self.l2_retry_at:
            return False, None
        try:
            value = self.l2.get(slug)
        except redis.RedisError as error:
            self._redis_failed("read from", error)
            return False, None
        if value is None:
            return False, None
        if value == _NEGATIVE and type(value) is int:
            return True, None
        record = LinkRecord.from_wire(value)
        return record is not None, record

    @staticmethod
    def _from_db(key: str) -> LinkRecord | None:
        host, _, slug = key.rpartition("/")
        statement = (
            select(
                Link.slug,
                Link.url,
                Link.redirect_type,
                Link.expires_at,
                Link.max_visits,
                Link.password_hash,
                Link.disabled,
                Link.id,
                Link.rules,
                Link.forward_query,
            )
            .where(Link.slug == slug)
            .limit(1)
        )
        if host:
            statement = statement.join(Domain, Link.domain_id == Domain.id).where(
                Domain.host == host
            )
        else:
            statement = statement.where(Link.domain_id.is_(None))
        row = db.session.execute(statement).first()
        return None if row is None else LinkRecord.from_link(row)

    def _to_l2(self, slug: str, record: LinkRecord | None, seen: str) -> None:
        """Fill L2 with what the query found, if generation ``seen`` is still current."""
        if time.monotonic() < self.l2_retry_at:
            return
        value: Any
        if record is None:
            value, ttl = _NEGATIVE, max(1, round(self.negative_ttl))
        else:
            value, ttl = record.to_wire(), self.l2_ttl
        try:
            self.fill(
                keys=[KEY_PREFIX + slug, GENERATION_KEY],
                args=[seen, JsonSerializer().dumps(value), ttl],
            )
        except redis.RedisError as error:
            self._redis_failed("write to", error)

    def _redis_failed(self, action: str, error: Exception) -> None:
        now = time.monotonic()
        if now >= self.l2_retry_at:
            logger.warning(
                "link cache: could not %s Redis (%s); serving from L1 and the database for %.1fs",
                action,
                error,
                self.redis_retry,
            )
        self.l2_retry_at = now + self.redis_retry

    # -- invalidation -------------------------------------------------------------------------

    def evict(self, slugs: Iterable[str]) -> None:
        """Drop ``slugs`` from this process's L1."""
        with self.lock:
            self.generation += 1
            for slug in slugs:
                self.l1.pop(slug, None)

    def clear(self) -> None:
        """Drop all of L1 (after missing messages, e.g. on a new subscription)."""
        with self.lock:
            self.generation += 1
            self.l1.clear()
        self.forget_domains()  # a domain change may be among the missed messages

    def invalidate(self, slugs: Iterable[str]) -> None:
        targets = sorted(set(slugs))
        if not targets:
            return
        self.evict(targets)
        self.broadcast(targets)
        if self.reinvalidate_delay > 0:
            self._schedule_again(targets)

    def _schedule_again(self, slugs: list[str]) -> None:
        """Broadcast ``slugs`` once more after the delay; one timer serves every pending slug,
        so a bulk import does not start a thread per link."""
        due = time.monotonic() + self.reinvalidate_delay
        with self.lock:
            for slug in slugs:
                self.pending[slug] = due  # counted from the latest change of the slug
            if self.timer is None:
                self._arm(self.reinvalidate_delay)

    def _arm(self, delay: float) -> None:
        """Start the timer (the caller holds the lock)."""
        timer = threading.Timer(delay, self._flush_pending)
        timer.daemon = True
        try:
            timer.start()
        except RuntimeError as error:  # no thread to be had: the first broadcast must do
            logger.warning("link cache: could not schedule a second invalidation (%s)", error)
            self.pending.clear()
            return
        self.timer = timer

    def _flush_pending(self) -> None:
        """Announce the slugs that are due, then arm the timer for the rest: armed before the
        broadcast, the next timer could announce later slugs ahead of these."""
        now = time.monotonic()
        with self.lock:
            ready = sorted(slug for slug, due in self.pending.items() if due <= now)
            for slug in ready:
                del self.pending[slug]
        if ready:
            self.broadcast(ready)
        with self.lock:
            self.timer = None
            if self.pending:
                self._arm(max(0.0, min(self.pending.values()) - time.monotonic()))

    def broadcast(self, slugs: list[str]) -> None:
        """Bump the generation, delete the L2 entries and announce ``slugs`` to every
        listener, in one round trip. The bump comes first: a racing reader's fill that runs
        between the two would otherwise survive the delete."""
        self.evict(slugs)
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.incr(GENERATION_KEY)
            pipe.delete(*(KEY_PREFIX + slug for slug in slugs))
            for slug in slugs:
                pipe.publish(INVALIDATE_CHANNEL, slug)
            pipe.execute()
        except redis.RedisError as error:
            logger.warning(
                "link cache: could not invalidate %s in Redis (%s); other replicas may serve "
                "the old version until their L1 entries expire",
                ", ".join(slugs),
                error,
            )

    # -- the listener -------------------------------------------------------------------------

    def start_listener(self) -> None:
        """Start this process's listener (lazily, after any fork; never at import time)."""
        with self.lock:
            if self.listener_pid == os.getpid():
                return
            self.l1.clear()  # entries inherited from a parent process were never invalidated
            self.domain_map = DomainMap()
            self.listener = _Listener(weakref.ref(self), self.redis)
            self.listener_pid = os.getpid()
        self.listener.start()

    def stop(self) -> None:
        with self.lock:
            timer, self.timer = self.timer, None
            self.pending.clear()
        if timer is not None:
            timer.cancel()
        listener, self.listener = self.listener, None
        self.listener_pid = 0
        if listener is not None:
            listener.stop()


class _Listener(ChannelListener[_State]):
    """Evicts the L1 entries, or forgets the domain map, announced on :data:`INVALIDATE_CHANNEL`."""

    log = logger

    def __init__(self, state: weakref.ref[_State], client: redis.Redis) -> None:
        super().__init__("link cache: invalidation listener", INVALIDATE_CHANNEL, state, client)

    def on_subscribe(self, owner: _State) -> None:
        owner.clear()  # what was invalidated while we were not subscribed: start afresh

    def on_message(self, owner: _State, data: bytes) -> None:
        message = data.decode("utf-8", "replace")
        if message == DOMAINS_MESSAGE:
            owner.forget_domains()
        else:
            owner.evict([message])


if TYPE_CHECKING:
    link_cache: LinkCache


def __getattr__(name: str) -> object:
    """``link_cache``, the instance in :mod:`service.extensions`, importable from here too."""
    if name == "link_cache":
        from .. import extensions

        return extensions.link_cache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
