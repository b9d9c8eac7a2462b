"""The live side of the statistics pages: Server-Sent Events streams and JSON summaries.

* ``GET /dashboard/links/<slug>/stats/live`` and ``GET /dashboard/stats/live`` -
  ``text/event-stream`` of the clicks the worker counts (:mod:`.live`), for the link's
  owner (admins: any link); 404 for anyone else, as the stats page itself. Everything the
  stream needs is read before it starts: the database session is given back and the
  login session saved (if at all) before the first byte, so an open stream holds neither.
* ``GET /dashboard/links/<slug>/stats/summary.json`` and ``GET /dashboard/stats/summary.json``
  - the page's totals for the same range arguments, fetched by the page after a live event
  and, when the stream cannot be had (503 past ``LIVE_MAX_STREAMS``), every ``LIVE_POLL_S``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from ..accounts.auth import login_required
from ..errors import problem_response
from ..extensions import db
from ..links.models import Link
from ..links.services import get_link_for
from . import bp
from .live import StreamsFull, hub_of
from .stats import account_overview, link_stats
from .views import _range_from_request

#: Seconds a client refused for the stream cap should wait.
RETRY_AFTER_S = 10


def _stream(links: frozenset[int] | None) -> Response:
    """The event stream of ``links`` (None: every link), or 503 past the cap."""
    hub = hub_of(current_app)
    if hub is None:  # pragma: no cover - analytics is always registered by create_app
        raise RuntimeError("the analytics extension is not registered")
    try:
        subscriber = hub.open(links)
    except StreamsFull:
        response = problem_response(
            503,
            "Service Unavailable",
            "Too many live statistics streams are open on this server; the page refreshes "
            "its numbers periodically instead.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    try:
        db.session.remove()  # no pooled connection is held while the stream is open
        response = current_app.response_class(hub.stream(subscriber), mimetype="text/event-stream")
    except BaseException:
        hub.close(subscriber)
        raise
    response.call_on_close(lambda: hub.close(subscriber))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx passes each event on at once
    return response


@bp.get("/links/<slug>/stats/live")
@login_required
def link_live(slug: str) -> Response:
    """Clicks on one link as they are counted."""
    return _stream(frozenset({get_link_for(current_user, slug, request.args.get("domain")).id}))


@bp.get("/stats/live")
@login_required
def overview_live() -> Response:
    """Clicks on every link the user may see (admins: all), as they are counted; links
    created after the stream opened join at its next reconnect."""
    if current_user.is_admin:
        return _stream(None)
    ids = db.session.scalars(select(Link.id).where(Link.owner_id == current_user.id))
    return _stream(frozenset(ids))


def _bad_range(errors: dict[str, str]) -> Response:
    return problem_response(400, "Bad Request", "The range could not be used.", errors=errors)


def _summary(report: dict[str, Any]) -> Response:
    return jsonify(totals=report["totals"], granularity=report["granularity"])


@bp.get("/links/<slug>/stats/summary.json")
@login_required
def link_summary(slug: str) -> Response:
    """The totals of one link's stats page, for the same ``from``/``to``/``granularity``."""
    link = get_link_for(current_user, slug, request.args.get("domain"))
    span, errors = _range_from_request()
    if errors:
        return _bad_range(errors)
    return _summary(link_stats(link, span.start, span.end, span.granularity))


@bp.get("/stats/summary.json")
@login_required
def overview_summary() -> Response:
    """The totals of the overview page, for the same range arguments."""
    span, errors = _range_from_request()
    if errors:
        return _bad_range(errors)
    return _summary(account_overview(current_user, span.start, span.end, span.granularity))
