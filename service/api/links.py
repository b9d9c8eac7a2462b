"""``/api/v1/links``: create, list, read, change and delete links; QR codes; stats.

Authorization is the links service's: :func:`visible_links` and :func:`get_link_for` only
ever return what the key's owner may see (own links; admins all), and answer 404 for
anything else, so another user's slugs cannot be probed (no IDOR oracle).
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import segno
from flask import current_app, g, jsonify, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from ..links import queries
from ..links.fields import BY_NAME, KEEP
from ..links.models import Link
from ..links.services import create_link, delete_link, get_link_for, update_link
from ..links.slugs import SLUG_PATTERN
from .auth import add_ratelimit_headers
from .core import ApiBlueprint
from .errors import ApiProblem, register_problem_handlers
from .idempotency import idempotent
from .presenters import present, present_one
from .schemas import (
    LinkCreateSchema,
    LinkListArgsSchema,
    LinkSchema,
    LinkUpdateSchema,
    QrArgsSchema,
    StatsArgsSchema,
    StatsSchema,
)

bp = ApiBlueprint(
    "links",
    __name__,
    url_prefix="/api/v1",
    description="Short links: create, list, read, change, delete; QR codes and statistics.",
)
register_problem_handlers(bp)
bp.after_request(add_ratelimit_headers)

_JSON_BODY_METHODS = {"POST", "PUT", "PATCH"}
_IDEMPOTENCY_HEADER_DOC = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (e.g. a UUID). A retried POST with the same key and body gets the "
        "first response again (for 24 h) instead of creating a second link."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
_IF_MATCH_DOC = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "Only change the link if its ETag still matches (else 412).",
    "schema": {"type": "string"},
}
_IF_NONE_MATCH_DOC = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "Answer 304 when the ETag still matches.",
    "schema": {"type": "string"},
}
_ETAG_HEADER_DOC = {"ETag": {"description": "Version of the link.", "schema": {"type": "string"}}}
_QR_CACHE_SECONDS = 86400


@bp.before_request
def check_body() -> None:
    """Bound the body (``API_JSON_MAX_BYTES``) and insist on JSON where a body is read."""
    request.max_content_length = int(current_app.config["API_JSON_MAX_BYTES"])
    if request.method in _JSON_BODY_METHODS and not request.is_json:
        raise ApiProblem(
            415,
            "Send the body as JSON with Content-Type: application/json.",
            errors={"Content-Type": [f"Expected application/json, got {request.mimetype!r}."]},
        )


def _user() -> Any:
    return g.api_user


def _find(slug: str) -> Link:
    """The user's link ``slug`` on the domain ``?domain=`` names (default: the default
    domain); 404 without a query when it cannot be a slug at all."""
    if not SLUG_PATTERN.fullmatch(slug):
        raise NotFound("There is no link with this short name.")
    return get_link_for(_user(), slug, request.args.get("domain") or None)


def _check_if_match(link: Link) -> None:
    """412 when ``If-Match`` names other versions than the current one."""
    if not request.headers.get("If-Match"):
        return
    if not request.if_match.contains(queries.etag_of(link)) and not request.if_match.star_tag:
        raise ApiProblem(
            412,
            "The link has changed since you read it; fetch it again and retry.",
            errors={"If-Match": ["Does not match the current ETag."]},
        )


def _with_etag(link: Link, status: int = 200) -> Response:
    response = jsonify(LinkSchema().dump(present_one(link)))
    response.status_code = status
    response.set_etag(queries.etag_of(link))
    return response


@bp.route("/links", methods=["POST"])
@bp.authenticated("write")
@idempotent
@bp.arguments(LinkCreateSchema, description="The new link; only `url` is required.")
@bp.response(
    201, LinkSchema, headers={"Location": {"schema": {"type": "string"}}, **_ETAG_HEADER_DOC}
)
@bp.doc(parameters=[_IDEMPOTENCY_HEADER_DOC])
def create(data: dict[str, Any]) -> Response:
    """Create a link

    Answers 201 with the link and its URL in `Location`. A taken slug is 409, invalid
    fields are 422 with messages per field.
    """
    link = create_link(_user(), **data)
    response = _with_etag(link, 201)
    response.headers["Location"] = url_for("links.read", slug=link.slug, _external=True)
    return response


@bp.route("/links", methods=["GET"])
@bp.authenticated("read")
@bp.arguments(LinkListArgsSchema, location="query")
@bp.response(200, LinkSchema(many=True))
@bp.paginate()
def index(args: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    """List links

    Newest first, paginated with `page` and `per_page`; the total is in `X-Total-Count`
    and the neighbouring pages in `Link`. Filters combine with AND.
    """
    criteria = queries.LinkFilter(
        q=args.get("q", ""),
        tag=args.get("tag", ""),
        created_after=args.get("created_after"),
        created_before=args.get("created_before"),
    )
    page = queries.listing(
        _user(),
        criteria,
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    pagination_parameters.item_count = page.total
    return present(page.items)


@bp.route("/links/<slug>", methods=["GET"])
@bp.authenticated("read")
@bp.response(200, LinkSchema, headers=_ETAG_HEADER_DOC)
@bp.alt_response(304, description="Not modified (If-None-Match)")
@bp.doc(parameters=[_IF_NONE_MATCH_DOC])
def read(slug: str) -> Response:
    """Read a link

    Carries an `ETag`; send it back in `If-Match` when changing the link, or in
    `If-None-Match` to get 304 when nothing changed.
    """
    return _with_etag(_find(slug)).make_conditional(request)


@bp.route("/links/<slug>", methods=["PATCH"])
@bp.authenticated("write")
@bp.arguments(LinkUpdateSchema, description="Only the fields to change.")
@bp.response(200, LinkSchema, headers=_ETAG_HEADER_DOC)
@bp.alt_response(412, response="PRECONDITION_FAILED")
@bp.doc(parameters=[_IF_MATCH_DOC])
def change(data: dict[str, Any], slug: str) -> Response:
    """Change a link

    Only the fields sent change. `null` removes an expiry, a visit limit or a password;
    a new `slug` renames the link (its old short URL stops working).
    """
    link = _find(slug)
    _check_if_match(link)
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if value is None and BY_NAME[name].patch_null is KEEP:
            continue
        changes[name] = BY_NAME[name].patch_null if value is None else value
    if changes:
        link = update_link(link, **changes)
    return _with_etag(link)


@bp.route("/links/<slug>", methods=["DELETE"])
@bp.authenticated("write")
@bp.response(204)
@bp.alt_response(412, response="PRECONDITION_FAILED")
@bp.doc(parameters=[_IF_MATCH_DOC])
def remove(slug: str) -> Response:
    """Delete a link

    Its short URL stops working on every replica within a second; the slug becomes free.
    """
    link = _find(slug)
    _check_if_match(link)
    delete_link(link)
    return current_app.response_class(status=204)


def _qr(slug: str, kind: str, args: dict[str, Any]) -> Response:
    link = _find(slug)
    url = queries.short_url(link.slug, link.host)
    scale, margin = args["scale"], args["margin"]
    etag = hashlib.sha256(f"{kind}|{url}|{scale}|{margin}".encode()).hexdigest()[:32]
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
    else:
        buffer = io.BytesIO()
        segno.make(url, error="m").save(buffer, kind=kind, scale=scale, border=margin)
        mimetype = "image/svg+xml" if kind == "svg" else "image/png"
        response = current_app.response_class(buffer.getvalue(), mimetype=mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"private, max-age={_QR_CACHE_SECONDS}"
    return response


_BINARY = {"type": "string", "format": "binary"}


@bp.route("/links/<slug>/qr.svg", methods=["GET"])
@bp.authenticated("read")
@bp.arguments(QrArgsSchema, location="query")
@bp.response(200, _BINARY, content_type="image/svg+xml", headers=_ETAG_HEADER_DOC)
@bp.alt_response(304, description="Not modified (If-None-Match)")
def qr_svg(args: dict[str, Any], slug: str) -> Response:
    """QR code of the short URL (SVG)

    Cacheable: `Cache-Control: private, max-age=86400` and an `ETag`.
    """
    return _qr(slug, "svg", args)


@bp.route("/links/<slug>/qr.png", methods=["GET"])
@bp.authenticated("read")
@bp.arguments(QrArgsSchema, location="query")
@bp.response(200, _BINARY, content_type="image/png", headers=_ETAG_HEADER_DOC)
@bp.alt_response(304, description="Not modified (If-None-Match)")
def qr_png(args: dict[str, Any], slug: str) -> Response:
    """QR code of the short URL (PNG)

    Cacheable: `Cache-Control: private, max-age=86400` and an `ETag`.
    """
    return _qr(slug, "png", args)


_CSV_DOWNLOAD = {
    "Content-Disposition": {
        "description": '`attachment; filename="<slug>-<name>.csv"`',
        "schema": {"type": "string"},
    }
}


@bp.route("/links/<slug>/visits.csv", methods=["GET"])
@bp.authenticated("read")
@bp.response(200, {"type": "string"}, content_type="text/csv", headers=_CSV_DOWNLOAD)
def visits_csv(slug: str) -> Response:
    """Visits per hour (CSV)

    Every stored hour of the link with at least one visit, oldest first, streamed:
    `hour,visits,bot_visits` (`hour` in ISO 8601 UTC; `visits` includes `bot_visits`).
    """
    from ..analytics.export import HOURLY, download

    return download(_find(slug), HOURLY)


@bp.route("/links/<slug>/dimensions.csv", methods=["GET"])
@bp.authenticated("read")
@bp.response(200, {"type": "string"}, content_type="text/csv", headers=_CSV_DOWNLOAD)
def dimensions_csv(slug: str) -> Response:
    """Visits per day and dimension (CSV)

    Every stored day of the link, streamed: `day,dimension,value,visits,bot_visits`, one
    row per UTC day, dimension (`referrer`, `browser`, `os`, `device`, `country`) and
    value (empty: none or not recorded). Text that a spreadsheet would run as a formula
    is prefixed with `'`.
    """
    from ..analytics.export import DAILY, download

    return download(_find(slug), DAILY)


@bp.route("/links/<slug>/stats", methods=["GET"])
@bp.authenticated("read")
@bp.arguments(StatsArgsSchema, location="query")
@bp.response(200, StatsSchema)
def stats(args: dict[str, Any], slug: str) -> Response:
    """Visit statistics of a link

    Visits per hour or day between `from` and `to` (default: the last 7 days; a bare date
    as `to` includes that day), totals with unique visitors, and the top referrers,
    browsers, operating systems, devices and countries. Counted by the analytics worker
    from every replica's clicks.
    """
    from ..analytics.stats import StatsQueryError, link_stats

    link = _find(slug)
    try:
        report = link_stats(link, args.get("start"), args.get("end"), args.get("granularity"))
    except StatsQueryError as error:
        raise ApiProblem(
            422,
            "The period is not valid.",
            errors={field: [message] for field, message in error.errors.items()},
        ) from None
    return jsonify(report)
