"""Click analytics that lose no click: capture, spool, ship, aggregate, report.

The path of a click (see docs/ARCHITECTURE.md and the module docstrings):

1. :mod:`.capture` - the ``link_visited`` subscriber builds the event and appends it as one
   JSON line to this process's spool file (a plain ``write``; survives ``kill -9``);
2. :mod:`.shipper` - a background thread (a greenlet under gevent) ships new lines in
   batches to the Redis Stream ``linkfleet:clicks`` and remembers its file offset; it also
   ships what dead processes left in their spool files (:mod:`.spool`);
3. :mod:`.worker` - ``linkfleet worker`` reads the stream with a consumer group and folds
   the events into aggregates (:mod:`.aggregates`, :mod:`.models`) idempotently;
4. :mod:`.stats` - the queries behind the dashboard pages (:mod:`.views`, :mod:`.charts`)
   and the API's ``GET /api/v1/links/<slug>/stats``;
5. :mod:`.live` - the worker publishes each batch's per-link counts; the pages' event
   streams (:mod:`.live_views`) pass them on as they arrive.

Orphan visits (unknown slugs, other 404s) take the same path into an hourly aggregate
(:mod:`.orphans`, :mod:`.orphan_stats`, the admins' page in :mod:`.orphan_views`).
"""

from flask import Blueprint

#: ``/dashboard/links/<slug>/stats``, ``/dashboard/stats`` (and their ``/live`` streams and
#: ``/summary.json``), ``/dashboard/orphan-visits``.
bp = Blueprint("analytics", __name__, url_prefix="/dashboard")

from . import live_views, orphan_views, views  # noqa: E402, F401
