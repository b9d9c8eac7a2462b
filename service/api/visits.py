"""``/api/v1/visits/orphan``: visits that reached no link (Shlink's orphan visits).

Orphan visits (:mod:`service.analytics.orphans`) belong to no account, so only keys of
administrators may read them: any other key gets 403 ``insufficient_scope``-like problem
details (the key is valid, its owner is not allowed).
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify
from werkzeug.wrappers import Response

from ..analytics.orphan_stats import orphan_report
from ..analytics.stats import StatsQueryError
from .auth import add_ratelimit_headers
from .core import ApiBlueprint
from .errors import ApiProblem, register_problem_handlers
from .schemas import OrphanArgsSchema, OrphanStatsSchema

bp = ApiBlueprint(
    "visits_api",
    __name__,
    url_prefix="/api/v1",
    description="Visits that reached no link (administrators only).",
)
register_problem_handlers(bp)
bp.after_request(add_ratelimit_headers)


@bp.route("/visits/orphan", methods=["GET"])
@bp.authenticated("read")
@bp.arguments(OrphanArgsSchema, location="query")
@bp.response(200, OrphanStatsSchema)
@bp.alt_response(403, description="The key's owner is not an administrator")
def orphan_visits(args: dict[str, Any]) -> Response:
    """Orphan visits (administrators only)

    Requests that reached no link, counted per hour by the analytics worker: `base_url`
    (the root of an added domain), `invalid_short_url` (no such short link, or one disabled,
    expired or out of visits) and `regular_404` (any other missing page, or a page an added
    domain or an unknown host does not serve; the API's own 404s are not counted). Totals, per
    type, per hour or day between `from` and `to` (default: the last 7 days), and the top
    hosts and referrer hosts (`other`: beyond the cap of distinct values per hour). No
    visitor address and no path is kept.
    """
    if not g.api_user.is_admin:
        raise ApiProblem(403, "Orphan visits can be read with an administrator's key only.")
    try:
        report = orphan_report(
            args.get("start"), args.get("end"), args.get("granularity"), type=args.get("type")
        )
    except StatsQueryError as error:
        raise ApiProblem(
            422,
            "The period is not valid.",
            errors={field: [message] for field, message in error.errors.items()},
        ) from None
    return jsonify(report)
