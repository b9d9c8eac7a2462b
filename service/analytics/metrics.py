"""Prometheus metrics of click capture and shipping, exported by every replica's ``/metrics``
(summed over the replica's worker processes in multiprocess mode).

The worker's own metrics (lag, throughput) live in :mod:`.worker`, which replicas never
import, so that replicas do not export idle copies of them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
