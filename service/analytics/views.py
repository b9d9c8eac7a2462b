"""Dashboard pages of the statistics: one link's, and the overview of the user's links.

Authorization is the links service's: :func:`get_link_for` answers 404 for a link the user
may not see, exactly as for one that does not exist. Charts are inline SVG (:mod:`.charts`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, render_template, request
from flask_login import current_user
from werkzeug.exceptions import NotFound

from ..accounts.auth import login_required
from ..links.services import get_link_for
from . import bp
from .charts import Point, bar, time_series
from .export import EXPORTS, download
from .stats import (
    TOP_LISTS,
    StatsQueryError,
    StatsRange,
    account_overview,
    link_stats,
    stats_range,
)

#: Headings of the "top" tables, and what an empty value means in each.
TOP_TITLES = {
    "referrers": ("Referrers", "Direct or not recorded"),
    "browsers": ("Browsers", "Not recorded"),
    "os": ("Operating systems", "Not recorded"),
    "devices": ("Devices", "Not recorded"),
    "countries": ("Countries", "Unknown"),
    "links": ("Links", ""),
}
#: Quick ranges offered above the charts: label -> (days back, granularity).
PRESETS = (
    ("24 hours", 1, "hour"),
    ("7 days", 7, "day"),
    ("30 days", 30, "day"),
    ("90 days", 90, "day"),
)


def _range_from_request() -> tuple[StatsRange, dict[str, str]]:
    """The range asked for in the query string; the default range and the errors if bad."""
    args = request.args
    try:
        return stats_range(args.get("from"), args.get("to"), args.get("granularity")), {}
    except StatsQueryError as error:
        return stats_range(), error.errors


def _points(report: dict[str, Any]) -> list[Point]:
    hourly = report["granularity"] == "hour"
    points = []
    for item in report["series"]:
        moment = datetime.fromisoformat(item["start"].replace("Z", "+00:00"))
        if hourly:
            label, title = moment.strftime("%d %b %H:%M"), moment.strftime("%Y-%m-%d %H:00 UTC")
        else:
            label, title = moment.strftime("%d %b"), moment.strftime("%Y-%m-%d")
        points.append(Point(label, title, item["humans"], item["bots"]))
    return points


def _presets() -> list[dict[str, str]]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return [
        {
            "label": label,
            "from": (end - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M"),
            "to": end.strftime("%Y-%m-%dT%H:%M"),
            "granularity": granularity,
        }
        for label, days, granularity in PRESETS
    ]


def _page(
    template: str, report: dict[str, Any], span: StatsRange, errors: dict[str, str], **context: Any
) -> tuple[str, int]:
    lists = [key for key, _ in TOP_LISTS]
    if "links" in report["top"]:
        lists.insert(0, "links")
    html = render_template(
        template,
        report=report,
        span=span,
        errors=errors,
        chart=time_series(_points(report), label="Visits over time"),
        lists=lists,
        titles=TOP_TITLES,
        bar=bar,
        presets=_presets(),
        form={
            "from": span.start.strftime("%Y-%m-%d"),
            "to": (span.end - timedelta(microseconds=1)).strftime("%Y-%m-%d"),
            "granularity": span.granularity,
        },
        **context,
    )
    return html, 400 if errors else 200


@bp.get("/links/<slug>/stats")
@login_required
def link_page(slug: str) -> tuple[str, int]:
    """Visits of one link over time, its top referrers, browsers, OS, devices, countries."""
    link = get_link_for(current_user, slug, request.args.get("domain"))
    span, errors = _range_from_request()
    report = link_stats(link, span.start, span.end, span.granularity)
    return _page("analytics/link_stats.html", report, span, errors, link=link)


@bp.get("/links/<slug>/stats/<name>.csv")
@login_required
def link_csv(slug: str, name: str) -> Response:
    """One link's stored visit aggregates as a streamed CSV download (:mod:`.export`)."""
    link = get_link_for(current_user, slug, request.args.get("domain"))
    export = EXPORTS.get(name)
    if export is None:
        raise NotFound("There is no such download; use visits.csv or dimensions.csv.")
    return download(link, export)


@bp.get("/stats")
@login_required
def overview() -> tuple[str, int]:
    """The same over every link of the user (admins: all links), with the top links."""
    span, errors = _range_from_request()
    report = account_overview(current_user, span.start, span.end, span.granularity)
    return _page("analytics/overview.html", report, span, errors)
