"""``linkfleet worker``: reads click events from the Redis Stream and writes the aggregates.

Delivery and counting (docs/ARCHITECTURE.md, "Click analytics"):

* consumer group ``analytics`` on ``linkfleet:clicks``, created at the stream's start (``0``)
  so events shipped before the first worker ran are counted too; several workers may run;
* the consumer name is ``<host>-<pid>``; at start a worker re-reads its own pending entries
  (``XREADGROUP ... 0``: after a restart with the same name, as in a container) and every
  ``claim_interval`` it takes over entries idle longer than ``claim_idle_ms`` in any other
  consumer (``XAUTOCLAIM``), i.e. the batches of a worker that died;
* each batch (``XREADGROUP ... >``, up to ``batch_size`` entries, blocking up to
  ``block_ms``) is written in one transaction (:func:`.aggregates.store_events`) and acked
  only after the commit, which is durable first (:func:`.aggregates.make_commit_durable`:
  SQLite's ``synchronous=FULL``; an ack must never outlive its batch). A redelivered
  entry whose transaction had committed is skipped by its event id, so nothing is counted
  twice and nothing acked is uncounted;
* database errors roll the batch back; the worker waits (capped exponential backoff) and
  retries the same batch, without acking, until it commits or the worker is told to stop;
* each committed batch's per-link counts go to the webhooks' click window (``link.clicked``,
  sent by the :class:`~service.webhooks.dispatcher.Dispatcher` that ``linkfleet worker`` runs
  beside the worker), and are published for the live statistics pages (:mod:`.live`);
* orphan visits (:mod:`.orphans`) in the same stream are added to their hourly rows in the
  batch's transaction;
* SIGTERM / SIGINT finish the current batch, then exit;
* lag (``XINFO GROUPS``: entries not yet delivered, entries pending) and throughput are
  Prometheus metrics, served by ``--metrics-port`` when set.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..extensions.metrics import worker_metrics
from ..extensions.redis_client import make_redis
from ..webhooks.outbox import ClickWindow
from .aggregates import (
    Event,
    StoreResult,
    make_commit_durable,
    parse_event,
    purge_processed,
    store_events,
)
from .extension import DEFAULT_STREAM
from .live import publish_counts
from .orphans import (
    DEFAULT_HOST_CAP,
    DEFAULT_REFERRER_CAP,
    OrphanVisit,
    is_orphan_line,
    parse_orphan,
    store_orphans,
)
from .shipper import EVENT_FIELD

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: The consumer group every worker joins.
DEFAULT_GROUP = "analytics"

#: The worker's metrics, registered by this import (replicas never import this module).
METRICS = worker_metrics()


def default_consumer() -> str:
    """``<host>-<pid>``: unique among live workers, stable for a restarted container."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class WorkerSettings:
    """Tuning of one worker; ``linkfleet worker`` options map onto these fields."""

    stream: str = DEFAULT_STREAM
    group: str = DEFAULT_GROUP
    consumer: str = field(default_factory=default_consumer)
    batch_size: int = 1000
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    claim_interval: float = 5.0
    report_interval: float = 5.0
    retention_days: float = 7.0
    purge_interval: float = 3600.0
    max_backoff: float = 10.0
    #: Distinct referrer hosts and hosts of orphan visits per UTC hour (beyond: "other").
    orphan_referrer_cap: int = DEFAULT_REFERRER_CAP
    orphan_host_cap: int = DEFAULT_HOST_CAP
    #: Publish each batch's per-link counts for the live pages (:mod:`.live`).
    publish_live: bool = True

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> WorkerSettings:
        settings = cls(
            stream=config.get("ANALYTICS_STREAM", DEFAULT_STREAM),
            retention_days=float(config.get("ANALYTICS_PROCESSED_RETENTION_DAYS", 7.0)),
            orphan_referrer_cap=int(config["ANALYTICS_ORPHAN_REFERRER_CAP"]),
            orphan_host_cap=int(config["ANALYTICS_ORPHAN_HOST_CAP"]),
        )
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, value)
        return settings


def redis_for_worker(url: str, block_ms: int) -> redis.Redis:
    """A client whose read timeout outlasts a blocking XREADGROUP."""
    return make_redis(url, timeout=block_ms / 1000 + 5, connect_timeout=2)


class _Stopped(Exception):
    """Raised inside a retry loop when the worker was told to stop."""


@dataclass
class Totals:
    """What this worker has handled since it started (logs, tests, the benchmark)."""

    counted: int = 0
    duplicates: int = 0
    orphans: int = 0
    invalid: int = 0
    batches: int = 0
    #: Orphan visits (:mod:`.orphans`; ``orphans`` above are clicks of deleted links).
    orphan_visits: int = 0

    @property
    def handled(self) -> int:
        return self.counted + self.duplicates + self.orphans + self.invalid + self.orphan_visits


class Worker:
    """One consumer of the click stream. Call :meth:`run` (blocks) or :meth:`step`."""

    def __init__(
        self,
        app: Flask,
        client: redis.Redis,
        settings: WorkerSettings,
        clicks: ClickWindow | None = None,
    ) -> None:
        self.app = app
        self.client = client
        self.settings = settings
        #: Where committed batches' per-link counts go for ``link.clicked`` webhooks.
        self.clicks = clicks
        self.totals = Totals()
        self._stop = threading.Event()
        self._group_ready = False
        self._claim_cursor = "0-0"
        self._next_claim = 0.0
        self._next_report = 0.0
        self._next_purge = 0.0
        self._reported_handled = 0
        self._reported_at = time.monotonic()

    # -- control -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the current batch, then leave :meth:`run` (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Consume until :meth:`stop`; Redis and database outages are waited out."""
        s = self.settings
        logger.info("analytics worker %s reading %s as group %s", s.consumer, s.stream, s.group)
        with self.app.app_context():
            recovered = False
            failures = 0
            while not self.stopping:
                try:
                    if not recovered:
                        self.recover_own()
                        recovered = True
                    self.step()
                    failures = 0
                except _Stopped:
                    break
                except redis.RedisError as error:
                    failures += 1
                    self._group_ready = False
                    recovered = False  # re-read our pending entries once Redis is back
                    delay = min(self.settings.max_backoff, 0.2 * 2 ** min(failures, 6))
                    if failures == 1 or failures % 10 == 0:
                        logger.warning("analytics worker: Redis error (%s); retrying", error)
                    self._stop.wait(delay)
        logger.info(
            "analytics worker %s stopped: %d counted, %d duplicates, %d orphans, %d invalid",
            s.consumer,
            self.totals.counted,
            self.totals.duplicates,
            self.totals.orphans,
            self.totals.invalid,
        )

    def drain(self, idle_steps: int = 2) -> Totals:
        """Handle entries until ``idle_steps`` steps in a row found nothing (tests, benchmark).

        Runs in an app context of its own; Redis errors propagate.
        """
        with self.app.app_context():
            self.recover_own()
            idle = 0
            while idle < idle_steps and not self.stopping:
                idle = 0 if self.step() else idle + 1
        return self.totals

    # -- one step ----------------------------------------------------------------------------

    def ensure_group(self) -> None:
        """Create the group at the start of the stream (and the stream) unless it exists."""
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(
                self.settings.stream, self.settings.group, id="0", mkstream=True
            )
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def recover_own(self) -> int:
        """Re-handle this consumer's own pending entries (read from id 0)."""
        self.ensure_group()
        handled = 0
        while not self.stopping:
            entries = self._read("0")
            if not entries:
                break
            handled += self.handle(entries)
        return handled

    def step(self) -> int:
        """Claim abandoned entries if due, read one batch, handle it; entries handled."""
        self.ensure_group()
        now = time.monotonic()
        handled = 0
        if now >= self._next_claim:
            handled += self.claim_abandoned()
        if now >= self._next_report:
            self.report()
        if now >= self._next_purge:
            self.purge()
        try:
            entries = self._read(">")
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self._group_ready = False  # Redis lost the stream (restart without persistence)
            return handled
        if entries:
            handled += self.handle(entries)
        return handled

    def _read(self, start: str) -> list[tuple[Any, Any]]:
        s = self.settings
        block = None if start != ">" else s.block_ms
        response: Any = self.client.xreadgroup(
            s.group, s.consumer, {s.stream: start}, count=s.batch_size, block=block
        )
        if not response:
            return []
        # redis-py: [[stream, [(id, fields), ...]]] (RESP2) or {stream: [[...]]} (RESP3)
        if isinstance(response, dict):
            batches = list(response.values())
            return list(batches[0][0]) if batches and batches[0] else []
        return list(response[0][1])

    def claim_abandoned(self) -> int:
        """XAUTOCLAIM entries idle longer than ``claim_idle_ms`` (their consumer is gone)."""
        s = self.settings
        handled = 0
        while not self.stopping:
            reply = self.client.xautoclaim(
                s.stream,
                s.group,
                s.consumer,
                min_idle_time=s.claim_idle_ms,
                start_id=self._claim_cursor,
                count=s.batch_size,
            )
            next_id, entries = reply[0], reply[1]
            self._claim_cursor = next_id.decode() if isinstance(next_id, bytes) else str(next_id)
            if entries:
                logger.info("analytics worker: claimed %d abandoned entries", len(entries))
                handled += self.handle(entries)
            if self._claim_cursor == "0-0" or not entries:
                break
        if self._claim_cursor == "0-0":
            self._next_claim = time.monotonic() + s.claim_interval
            self._forget_idle_consumers()
        return handled

    def _forget_idle_consumers(self, idle_ms: int = 3_600_000) -> None:
        """Drop consumers with nothing pending that have been silent for an hour."""
        s = self.settings
        for consumer in self.client.xinfo_consumers(s.stream, s.group):
            name = consumer.get("name")
            name = name.decode() if isinstance(name, bytes) else str(name)
            idle = int(consumer.get("idle") or 0)
            if name != s.consumer and not consumer.get("pending") and idle > idle_ms:
                self.client.xgroup_delconsumer(s.stream, s.group, name)

    # -- a batch -----------------------------------------------------------------------------

    def handle(self, entries: list[tuple[Any, Any]]) -> int:
        """Count a batch of stream entries once, commit, then ack them."""
        ids = [entry_id for entry_id, _ in entries]
        events: list[Event] = []
        lost: list[OrphanVisit] = []
        invalid = 0
        for _, fields in entries:
            raw = None
            if fields:
                raw = fields.get(EVENT_FIELD.encode(), fields.get(EVENT_FIELD))
            if raw is not None and is_orphan_line(raw):
                visit = parse_orphan(raw)
                if visit is None:
                    invalid += 1
                else:
                    lost.append(visit)
                continue
            event = parse_event(raw) if raw is not None else None
            if event is None:
                invalid += 1
            else:
                events.append(event)
        if invalid:
            logger.warning("analytics worker: %d entries were not click events; dropped", invalid)
        result = self._store(events, lost) if events or lost else StoreResult()
        if self.clicks is not None and result.clicks:
            self.clicks.add(result.clicks)
        if self.settings.publish_live and result.clicks:
            publish_counts(self.client, result.clicks)
        self._retry_redis(lambda: self.client.xack(self.settings.stream, self.settings.group, *ids))
        self.totals.counted += result.counted
        self.totals.duplicates += result.duplicates
        self.totals.orphans += result.orphans
        self.totals.invalid += invalid
        self.totals.orphan_visits += len(lost)
        self.totals.batches += 1
        METRICS.events.labels("counted").inc(result.counted)
        METRICS.events.labels("duplicate").inc(result.duplicates)
        METRICS.events.labels("orphan").inc(result.orphans)
        METRICS.events.labels("invalid").inc(invalid)
        return len(entries)

    def _store(self, events: list[Event], lost: list[OrphanVisit]) -> StoreResult:
        """One transaction for the batch; on a database error roll back, wait, retry."""
        s = self.settings
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                with db.engine.begin() as connection:
                    make_commit_durable(connection)
                    result = store_events(connection, events, time.time())
                    store_orphans(
                        connection,
                        lost,
                        referrer_cap=s.orphan_referrer_cap,
                        host_cap=s.orphan_host_cap,
                    )
            except SQLAlchemyError as error:
                failures += 1
                METRICS.db_retries.inc()
                if failures == 1 or failures % 10 == 0:
                    logger.warning(
                        "analytics worker: database error, batch of %d rolled back; retrying (%s)",
                        len(events),
                        str(error).splitlines()[0],
                    )
                if self._stop.wait(min(self.settings.max_backoff, 0.1 * 2 ** min(failures, 7))):
                    raise _Stopped from None  # not acked: another worker will count it
                continue
            METRICS.batch_seconds.observe(time.perf_counter() - started)
            if failures:
                logger.info("analytics worker: database back; batch committed")
            return result

    def _retry_redis(self, operation: Callable[[], T]) -> T:
        """Run a Redis call until it succeeds (an ack must not be lost to a blip)."""
        failures = 0
        while True:
            try:
                return operation()
            except redis.ConnectionError:
                failures += 1
                if failures >= 50 or self._stop.wait(min(2.0, 0.1 * failures)):
                    # Left pending: redelivered later and skipped as already counted.
                    raise
            except redis.TimeoutError:
                failures += 1
                if failures >= 50:
                    raise

    # -- housekeeping ------------------------------------------------------------------------

    def report(self) -> None:
        """Update the lag and throughput gauges (and log them)."""
        s = self.settings
        now = time.monotonic()
        handled = self.totals.handled
        rate = (handled - self._reported_handled) / max(now - self._reported_at, 1e-6)
        self._reported_handled, self._reported_at = handled, now
        self._next_report = now + s.report_interval
        METRICS.throughput.set(rate)
        lag, pending = self.lag()
        if lag is not None:
            METRICS.lag.set(lag)
        METRICS.pending.set(pending)
        if rate or lag or pending:
            logger.info(
                "analytics worker: %.0f events/s, lag %s, pending %d",
                rate,
                "?" if lag is None else lag,
                pending,
            )

    def lag(self) -> tuple[int | None, int]:
        """(entries not yet delivered to the group, entries pending) from XINFO GROUPS."""
        s = self.settings
        for group in self.client.xinfo_groups(s.stream):
            name = group.get("name")
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name == s.group:
                lag = group.get("lag")
                return (None if lag is None else int(lag)), int(group.get("pending") or 0)
        return None, 0

    def purge(self) -> None:
        """Forget processed event ids older than the retention (hourly)."""
        self._next_purge = time.monotonic() + self.settings.purge_interval
        cutoff = time.time() - self.settings.retention_days * 86400
        try:
            with db.engine.begin() as connection:
                removed = purge_processed(connection, cutoff)
        except SQLAlchemyError as error:
            logger.warning("analytics worker: purge failed (%s); trying again later", error)
            self._next_purge = time.monotonic() + 60
            return
        if removed:
            logger.info("analytics worker: forgot %d processed event ids", removed)


__all__ = [
    "DEFAULT_GROUP",
    "Totals",
    "Worker",
    "WorkerSettings",
    "default_consumer",
    "redis_for_worker",
]
