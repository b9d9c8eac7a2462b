"""Prometheus metrics, summed over every worker process of a replica (multiprocess mode).

In multiprocess mode ``PROMETHEUS_MULTIPROC_DIR`` is set before the app starts
(the fleet sets it per replica and gunicorn clears it at start, see ``deploy/gunicorn.conf.py``).
"""

from __future__ import annotations

import os
import time

from flask import Flask, g, request
from flask.wrappers import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

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

    @staticmethod
    def render() -> tuple[bytes, str]:
        """The exposition text: all workers of this replica when in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    endpoint = request.endpoint or "unmatched"
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    return response
