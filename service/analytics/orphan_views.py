"""The administrators' page of orphan visits: ``/dashboard/orphan-visits``.

Orphan visits (:mod:`.orphans`) belong to no account, so only administrators see them;
anyone else logged in gets 403. Same range arguments and chart as the stats pages, plus a
``type`` filter (a bad one is a form error, never a 500).
"""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user
from werkzeug.exceptions import Forbidden

from ..accounts.auth import login_required
from . import bp
from .charts import bar, time_series
from .orphan_stats import orphan_report
from .orphans import TYPES
from .views import _points, _presets, _range_from_request

#: How each type is named on the page.
TYPE_TITLES = {
    "base_url": "Roots of added domains",
    "invalid_short_url": "Unknown or unservable short links",
    "regular_404": "Other missing pages",
}
ADMINS_ONLY = "Orphan visits are shown to administrators only."


@bp.get("/orphan-visits")
@login_required
def orphan_page() -> tuple[str, int]:
    """Visits that reached no link, per hour or day, by type, host and referrer host."""
    if not current_user.is_admin:
        raise Forbidden(ADMINS_ONLY)
    span, errors = _range_from_request()
    kind = request.args.get("type") or None
    if kind is not None and kind not in TYPES:
        errors = {**errors, "type": f"Choose one of: {', '.join(TYPES)}."}
        kind = None
    report = orphan_report(span.start, span.end, span.granularity, type=kind)
    html = render_template(
        "analytics/orphans.html",
        report=report,
        span=span,
        errors=errors,
        chart=time_series(_points(report), label="Orphan visits over time"),
        bar=bar,
        presets=_presets(),
        types=TYPES,
        type_titles=TYPE_TITLES,
        kind=kind,
    )
    return html, 400 if errors else 200
