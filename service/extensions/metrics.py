"""Every Prometheus metric of the service, summed over every worker process of a replica
(multiprocess mode).

In multiprocess mode ``PROMETHEUS_MULTIPROC_DIR`` is set before the app starts
(the fleet sets it per replica and gunicorn clears it at start, see ``deploy/gunicorn.conf.py``).

Requests are counted in process (:data:`tally`): an increment in multiprocess mode is a locked
write into an mmap'd file, several per request, which the redirect cannot afford. A greenlet
(a thread without gevent) folds the counts into the metric files every
:data:`FOLD_INTERVAL` seconds, and ``/metrics`` folds this process's counts first, so the
exposition is exact within that interval for every worker and at once for the one answering.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Flask, g, request
from flask.wrappers import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from ..config import metrics_multiproc_dir

REQUESTS = Counter(
    "linkfleet_http_requests_total", "HTTP requests served.", ["method", "endpoint", "status"]
)
LATENCY = Histogram(
    "linkfleet_http_request_duration_seconds",
    "Time spent in the app per request.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

#: Where each link lookup of the redirect was answered (service/links/cache.py increments it):
#: ``l1`` and ``l2`` a cached link, ``negative`` a cached "no such link" (either tier), ``db``
#: the database after a miss in both tiers. L1 hit ratio: l1 / sum over all tiers.
LINK_CACHE_LOOKUPS = Counter(
    "linkfleet_link_cache_hits_total",
    "Link lookups by the tier that answered them (l1, l2, negative, db).",
    ["tier"],
)
#: Read-only sessions (service/extensions/database.py): ``replica``, ``primary`` (no replicas
#: configured) or ``fallback`` (replicas configured, none answered, or one failed mid-query).
READ_QUERIES = Counter(
    "linkfleet_db_read_sessions_total",
    "Read-only database sessions by where they ran (replica, primary, fallback).",
    ["target"],
)


# -- click capture and shipping (every replica) ----------------------------------------------
CAPTURE_ERRORS = Counter(
    "linkfleet_analytics_capture_errors_total",
    "Clicks that could not be appended to the spool (the redirect was still served).",
)
SHIPPED = Counter(
    "linkfleet_analytics_events_shipped_total",
    "Click events shipped from spool files to the Redis Stream.",
)
SHIP_ERRORS = Counter(
    "linkfleet_analytics_ship_errors_total",
    "Failed attempts to ship a batch to Redis (the events stay spooled and are retried).",
)
SPOOL_BACKLOG = Gauge(
    "linkfleet_analytics_spool_backlog_bytes",
    "Bytes of this process's spool file not yet shipped to Redis.",
    multiprocess_mode="livesum",
)


@dataclass(frozen=True)
class WorkerMetrics:
    """The analytics worker's metrics (lag, throughput), see :func:`worker_metrics`."""

    events: Counter
    batch_seconds: Histogram
    db_retries: Counter
    lag: Gauge
    pending: Gauge
    throughput: Gauge


@lru_cache(maxsize=1)
def worker_metrics() -> WorkerMetrics:
    """Registered on first call, which only the worker makes (at the import of
    :mod:`service.analytics.worker`): replicas do not export idle copies of them."""
    return WorkerMetrics(
        events=Counter(
            "linkfleet_analytics_worker_events_total",
            "Stream entries handled by the worker, by outcome "
            "(counted, duplicate, orphan: link deleted, invalid: not an event).",
            ["outcome"],
        ),
        batch_seconds=Histogram(
            "linkfleet_analytics_worker_batch_seconds",
            "Time to write one batch to the database (commit included).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        ),
        db_retries=Counter(
            "linkfleet_analytics_worker_db_retries_total",
            "Batches rolled back after a database error and retried.",
        ),
        lag=Gauge(
            "linkfleet_analytics_stream_lag",
            "Stream entries not yet delivered to the consumer group (XINFO GROUPS lag).",
        ),
        pending=Gauge(
            "linkfleet_analytics_stream_pending",
            "Stream entries delivered to a consumer but not yet acknowledged.",
        ),
        throughput=Gauge(
            "linkfleet_analytics_worker_events_per_second",
            "Entries handled per second over the last reporting interval.",
        ),
    )


#: Seconds between two folds of the in-process counts into the metric files.
FOLD_INTERVAL = 0.25


class Tally:
    """Counter increments and histogram observations held in process until :meth:`fold`.

    Keys are prometheus-client children (``COUNTER.labels(...)``), bound once by callers.
    Folding a histogram writes its buckets and sum directly: prometheus-client has no
    observe-many, and one write per bucket per fold is the point.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Any, float] = {}
        #: histogram child -> [sum, count of bucket 0, count of bucket 1, ...]
        self._observed: dict[Any, list[float]] = {}
        self._folder_pid = 0

    def inc(self, child: Any, amount: float = 1) -> None:
        """``child.inc(amount)``, later."""
        if self._folder_pid != os.getpid():
            self._start_folder()
        with self._lock:
            counts = self._counts
            counts[child] = counts.get(child, 0) + amount

    def observe(self, child: Any, seconds: float) -> None:
        """``child.observe(seconds)`` of a histogram child, later."""
        if self._folder_pid != os.getpid():
            self._start_folder()
        bounds = child._upper_bounds
        with self._lock:
            row = self._observed.get(child)
            if row is None:
                row = self._observed[child] = [0.0] * (len(bounds) + 1)
            row[0] += seconds
            for index, bound in enumerate(bounds, 1):
                if seconds <= bound:
                    row[index] += 1
                    break

    def fold(self) -> None:
        """Write what was counted into the metrics (the mmap files in multiprocess mode)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            observed, self._observed = self._observed, {}
        for child, amount in counts.items():
            child.inc(amount)
        for child, row in observed.items():
            child._sum.inc(row[0])
            for bucket, count in zip(child._buckets, row[1:], strict=True):
                if count:
                    bucket.inc(count)

    def _start_folder(self) -> None:
        """Once per process, and only where other processes read the files: elsewhere
        :meth:`Metrics.render` folds before reading, which is exact on its own."""
        with self._lock:
            if self._folder_pid == os.getpid():
                return
            self._folder_pid = os.getpid()
            self._counts, self._observed = {}, {}  # a forked child counts only its own
        if metrics_multiproc_dir():
            threading.Thread(
                target=self._fold_forever, name="linkfleet-metrics", daemon=True
            ).start()

    def _fold_forever(self) -> None:
        while True:
            time.sleep(FOLD_INTERVAL)
            self.fold()


#: This process's pending counts (one per process, like prometheus-client's registry).
tally = Tally()


class Metrics:
    """Counts requests and their latency per endpoint; renders the exposition format.

    Config keys read: none (``PROMETHEUS_MULTIPROC_DIR`` comes from the environment, as
    prometheus-client requires).
    """

    extension_name = "linkfleet.metrics"

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.extension_name in app.extensions:
            raise RuntimeError("Metrics is already registered on this app")
        app.before_request(_start_timer)
        app.after_request(_observe)
        app.extensions[self.extension_name] = self

    def shutdown(self, app: Flask, *, flush: bool = True) -> None:
        """Fold this process's pending counts into the metrics (the folder is per process
        and stops with it)."""
        tally.fold()

    @staticmethod
    def render() -> tuple[bytes, str]:
        """The exposition text: all workers of this replica when in multiprocess mode."""
        tally.fold()
        if metrics_multiproc_dir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def count_request(method: str, endpoint: str, status: int, seconds: float | None) -> None:
    """Count one request and its time in the app (the full dispatch and the redirect lane)."""
    children = _children.get((method, endpoint, status))
    if children is None:
        children = _children[(method, endpoint, status)] = (
            REQUESTS.labels(method, endpoint, str(status)),
            LATENCY.labels(endpoint),
        )
    tally.inc(children[0])
    if seconds is not None:
        tally.observe(children[1], seconds)


#: Bound children by (method, endpoint, status): ``labels()`` takes a lock and hashes its
#: arguments; a few dozen combinations exist (methods and endpoints are the app's own).
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    elapsed = None if started is None else time.perf_counter() - started
    count_request(request.method, request.endpoint or "unmatched", response.status_code, elapsed)
    return response
