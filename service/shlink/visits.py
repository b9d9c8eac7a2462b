"""Visits: the overview and summaries LinkFleet counts, the (empty) per-visit lists, and
erasing a link's or the orphan visits' counts (see docs/SHLINK.md, "Visits").

Orphan visits belong to no account, so only an administrator's key sees and erases them
(as on ``/api/v1/visits/orphan``); any other key is answered as Shlink answers a key with
its ``NO_ORPHAN_VISITS`` role: zero orphan visits, and erasing them is refused.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify
from werkzeug.wrappers import Response

from ..analytics.erase import erase_link_visits, erase_orphan_visits
from ..analytics.orphan_stats import orphan_totals
from . import V3, bp, domains, inputs, shapes, summaries
from .auth import with_key
from .errors import (
    ShlinkProblem,
    domain_not_found,
    refused,
    tag_not_found,
)
from .short_urls import find
from .tags import tagged

ADMINS_ONLY = "Orphan visits belong to no account; only an administrator's key may erase them."


def _visits_query() -> dict[str, Any]:
    """A visit list's arguments, checked (a bad one is ``invalid-data``), as an empty list;
    a ``domain`` filter (tag, orphan and non-orphan visits) leaves it empty."""
    inputs.arg("domain")
    window = inputs.window()
    inputs.date_range()
    inputs.arg_flag("excludeBots")
    return shapes.no_visits(window.page, window.items_per_page)


@bp.route(f"{V3}/short-urls/<short_code>/visits", methods=["GET"])
@with_key("read")
def short_url_visits(short_code: str) -> Response:
    find(short_code)
    return jsonify(_visits_query())


@bp.route(f"{V3}/short-urls/<short_code>/visits", methods=["DELETE"])
@with_key("write")
def delete_short_url_visits(short_code: str) -> Response:
    """Erase the link's counted visits (its aggregates); the visit limit's counter stays."""
    link = find(short_code)
    return jsonify(deletedVisits=erase_link_visits(link.id))


@bp.route(f"{V3}/tags/<tag>/visits", methods=["GET"])
@with_key("read")
def tag_visits(tag: str) -> Response:
    if not tagged(tag):
        raise tag_not_found(tag)
    return jsonify(_visits_query())


@bp.route(f"{V3}/domains/<domain>/visits", methods=["GET"])
@with_key("read")
def domain_visits(domain: str) -> Response:
    if domains.resolve(domain) is None:
        raise domain_not_found(domain)
    return jsonify(_visits_query())


@bp.route(f"{V3}/visits", methods=["GET"])
@with_key("read")
def visits_overview() -> Response:
    """The key owner's visits in all (Shlink's current and deprecated members), and the
    orphan visits counted so far for an administrator's key (others: zeros)."""
    summary = summaries.of_user(g.api_user)
    orphans = summaries.Summary(*orphan_totals()) if g.api_user.is_admin else summaries.Summary()
    return jsonify(
        visits={
            "nonOrphanVisits": summary.json(),
            "orphanVisits": orphans.json(),
            "visitsCount": summary.total,
            "orphanVisitsCount": orphans.total,
        }
    )


@bp.route(f"{V3}/visits/non-orphan", methods=["GET"])
@with_key("read")
def non_orphan_visits() -> Response:
    return jsonify(_visits_query())


@bp.route(f"{V3}/visits/orphan", methods=["GET"])
@with_key("read")
def orphan_visits() -> Response:
    """Orphan visits are counted per hour, never one by one: an empty list (the counts are
    in ``GET /visits``)."""
    if (inputs.arg("type") or "base_url") not in {"base_url", "invalid_short_url", "regular_404"}:
        raise refused("type", "Use base_url, invalid_short_url or regular_404.")
    return jsonify(_visits_query())


@bp.route(f"{V3}/visits/orphan", methods=["DELETE"])
@with_key("write")
def delete_orphan_visits() -> Response:
    """Erase the orphan visits' counts (an administrator's key only)."""
    if not g.api_user.is_admin:
        raise ShlinkProblem(403, "about:blank", "Forbidden", ADMINS_ONLY)
    return jsonify(deletedVisits=erase_orphan_visits())
