"""The routes of Shlink's REST API v3: health, short URLs, tags, visits, domains.

Authorization is the links service's: :func:`~service.links.services.visible_links` only
ever yields what the key's owner may see (own links; an admin all), and anything else is
answered exactly like a short code that names no link (``short-url-not-found``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import g, jsonify, request
from sqlalchemy import select, text
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

from ..analytics.erase import erase_link_visits
from ..api.auth import authenticate_token, require_key
from ..api.errors import ApiProblem
from ..api.models import ApiKey
from ..errors import DEPENDENCY_ERRORS
from ..extensions import csrf, db
from ..extensions.routing import allowed_methods
from ..extensions.types import utcnow
from ..links import fields, queries
from ..links.models import Link
from ..links.services import (
    ValidationError,
    create_link,
    delete_link,
    normalise_tags,
    update_link,
    visible_links,
)
from ..links.slugs import MAX_SLUG_LENGTH, generate_slug
from . import bp, inputs, shapes, summaries
from .errors import (
    INVALID_API_KEY,
    MERCURE_NOT_CONFIGURED,
    MISSING_AUTHENTICATION,
    NOT_FOUND,
    TAG_CONFLICT,
    ShlinkProblem,
    domain_not_found,
    invalid_data,
    refused,
    register_error_handlers,
    short_url_not_found,
    tag_not_found,
)

register_error_handlers(bp)
csrf.exempt(bp)  # an API key in a header, never a cookie: nothing for CSRF to ride on

#: Shlink's header; header names are case-insensitive, so ``X-API-KEY`` works too.
KEY_HEADER = "X-Api-Key"
#: The Shlink version whose API this surface speaks (the health answer's ``version``).
SHLINK_VERSION = "5.0.0"
V3 = "/v3"
_CRAWLABLE = "LinkFleet does not let robots crawl short links; crawlable must be false."
_FORWARD_QUERY = "LinkFleet redirects without the visit's query string; forwardQuery must be false."
_DEVICE_URLS = "LinkFleet has no per-device long URLs."
_REDIRECT_RULES = "LinkFleet has no redirect rules yet; send an empty list."
_DOMAIN_REDIRECTS = "LinkFleet's fallback redirects are not configurable yet; send null."
_SHORT_URL_ORDERS = ("dateCreated", "shortCode", "longUrl", "title", "visits", "nonBotVisits")
_TAG_ORDERS = ("tag", "shortUrlsCount", "visits", "nonBotVisits")
_MICROSECOND = timedelta(microseconds=1)


# -- authentication -----------------------------------------------------------------------------


def _authenticate(scope: str) -> ApiKey:
    """``X-Api-Key`` checked like a Bearer key of ``/api/v1`` (same failure budget, scopes),
    the refusals worded as Shlink's."""
    token = request.headers.get(KEY_HEADER, "").strip()
    if not token:
        raise ShlinkProblem(
            401,
            MISSING_AUTHENTICATION,
            "Invalid authorization",
            f'Expected one of the following authentication headers, ["{KEY_HEADER}"], '
            "but none were provided",
        )
    try:
        return authenticate_token(token, scope)
    except ApiProblem as problem:
        status = problem.code or 401
        if status == 401:
            raise ShlinkProblem(
                401,
                INVALID_API_KEY,
                "Invalid API key",
                "Provided API key does not exist or is invalid.",
            ) from None
        retry = {k: v for k, v in problem.extra_headers.items() if k == "Retry-After"}
        raise ShlinkProblem(
            status,
            "about:blank",
            HTTP_STATUS_CODES.get(status, "Error"),
            str(problem.description),
            headers=retry,
        ) from None


def _with_key(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return require_key(scope, authenticator=_authenticate)


# -- short URLs ---------------------------------------------------------------------------------


def _find(short_code: str) -> Link:
    """The link ``short_code`` names if the key's owner may see it (``?domain=`` must be the
    default domain); else Shlink's ``short-url-not-found``."""
    domain = inputs.arg("domain")
    if not inputs.is_default_domain(domain):
        raise short_url_not_found(short_code, domain)
    if len(short_code) > MAX_SLUG_LENGTH or fields.CONTROL_CHARACTERS.search(short_code):
        raise short_url_not_found(short_code)
    statement = visible_links(g.api_user).where(Link.slug == short_code)
    link = db.session.scalars(statement).first()
    if link is None:
        raise short_url_not_found(short_code)
    return link


def _item(link: Link) -> dict[str, Any]:
    summary = summaries.of_links([link.id]).get(link.id, summaries.Summary())
    return shapes.short_url_json(queries.row_of(link), summary)


def _order() -> tuple[Any, ...]:
    chosen = inputs.order(_SHORT_URL_ORDERS)
    if chosen is None:
        return ()
    name, direction = chosen
    column = {
        "dateCreated": Link.created_at,
        "shortCode": Link.slug,
        "longUrl": Link.url,
        "title": Link.title,
        "visits": queries.clicks_of(Link.id),
        "nonBotVisits": queries.clicks_of(Link.id, humans=True),
    }[name]
    if direction == "DESC":
        return column.desc(), Link.id.desc()
    return column.asc(), Link.id.asc()


def _criteria() -> queries.LinkFilter:
    start, end = inputs.date_range()
    if inputs.arg("apiKeyName"):
        raise refused("apiKeyName", "LinkFleet lists the links of the key's owner, by any key.")
    return queries.LinkFilter(
        q=inputs.arg("searchTerm") or "",
        tags=tuple(inputs.arg_list("tags")),
        all_tags=inputs.mode("tagsMode") == "all",
        without_tags=tuple(inputs.arg_list("excludeTags")),
        without_all_tags=inputs.mode("excludeTagsMode") == "all",
        created_after=start,
        created_before=end + _MICROSECOND if end else None,
        not_expired_at=utcnow() if inputs.arg_flag("excludePastValidUntil") else None,
        not_used_up=inputs.arg_flag("excludeMaxVisitsReached"),
    )


@bp.route(f"{V3}/short-urls", methods=["GET"])
@_with_key("read")
def list_short_urls() -> Response:
    """The key owner's links (an admin's: all), filtered, ordered and paged as Shlink's."""
    window = inputs.window()
    criteria, order = _criteria(), _order()
    if not inputs.is_default_domain(inputs.arg("domain")):  # no link is on another domain
        return jsonify(
            shortUrls={
                "data": [],
                "pagination": shapes.pagination(window.page, window.items_per_page, 0, 0),
            }
        )
    per_page = inputs.MAX_NUMBER if window.everything else window.items_per_page
    page = queries.listing(
        g.api_user, criteria, page=window.page, per_page=per_page, order_by=order
    )
    counts = summaries.of_links([row.link.id for row in page.items])
    data = [
        shapes.short_url_json(row, counts.get(row.link.id, summaries.Summary()))
        for row in page.items
    ]
    paginator = shapes.pagination(window.page, window.items_per_page, len(data), page.total)
    return jsonify(shortUrls={"data": data, "pagination": paginator})


def _same_link(url: str, slug: str | None, tags: list[str] | None, limit: Any) -> Link | None:
    """``findIfExists``: the owner's link to ``url`` with the same slug, tags and visit
    limit when those were sent."""
    statement = select(Link).where(Link.owner_id == g.api_user.id, Link.url == url)
    if slug:
        statement = statement.where(Link.slug == slug)
    if limit is not None:
        statement = statement.where(Link.max_visits == limit)
    wanted = sorted(normalise_tags(tags)) if tags is not None else None
    for link in db.session.scalars(statement.order_by(Link.id)):
        if wanted is None or sorted(tag.name for tag in link.tags) == wanted:
            return link
    return None


def _common_checks(data: dict[str, Any]) -> None:
    """What create and edit refuse alike: flags LinkFleet cannot honour, a start date."""
    inputs.unsupported_flag("crawlable", data.get("crawlable"), _CRAWLABLE)
    inputs.unsupported_flag("forwardQuery", data.get("forwardQuery"), _FORWARD_QUERY)
    if data.get("deviceLongUrls"):
        raise refused("deviceLongUrls", _DEVICE_URLS)
    inputs.valid_since(data.get("validSince"))


def _text_or_none(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise refused(name, "Must be text.")
    return value


def _slug_is_taken(slug: str) -> bool:
    return db.session.scalar(select(Link.id).where(Link.slug == slug)) is not None


@bp.route(f"{V3}/short-urls", methods=["POST"])
@_with_key("write")
def create_short_url() -> Response:
    """Create a short URL (Shlink answers 200), or with ``findIfExists`` answer the
    owner's matching one."""
    data = inputs.body()
    long_url = data.get("longUrl")
    if not isinstance(long_url, str) or not long_url.strip():
        raise refused("longUrl", "Give the long URL to shorten.")
    _common_checks(data)
    inputs.domain(data.get("domain"))
    slug = _text_or_none("customSlug", data.get("customSlug"))
    tags = inputs.tags("tags", data.get("tags"))
    title = _text_or_none("title", data.get("title"))
    expires_at = inputs.moment("validUntil", data.get("validUntil"))
    max_visits = data.get("maxVisits")
    length = inputs.short_code_length(data.get("shortCodeLength"))
    find = data.get("findIfExists") is not None and inputs.boolean(
        "findIfExists", data["findIfExists"]
    )
    if find:
        try:
            url = fields.check({"url": long_url.strip()})["url"]
        except ValidationError as error:
            raise invalid_data({"longUrl": error.errors["url"]}) from None
        same = _same_link(url, slug, tags, max_visits)
        if same is not None:
            return jsonify(_item(same))
    if not slug and length is not None:
        slug = generate_slug(_slug_is_taken, length=length)
    link = create_link(  # a taken slug is the service's SlugTaken: non-unique-slug
        g.api_user,
        url=long_url,
        slug=slug,
        tags=tags or [],
        title=title,
        expires_at=expires_at,
        max_visits=max_visits,
    )
    return jsonify(_item(link))


@bp.route(f"{V3}/short-urls/<short_code>", methods=["GET"])
@_with_key("read")
def get_short_url(short_code: str) -> Response:
    return jsonify(_item(_find(short_code)))


#: Shlink's edit fields and the ``update_link`` field each one is.
_EDITABLE = {
    "longUrl": "url",
    "title": "title",
    "tags": "tags",
    "validUntil": "expires_at",
    "maxVisits": "max_visits",
}


@bp.route(f"{V3}/short-urls/<short_code>", methods=["PATCH"])
@_with_key("write")
def edit_short_url(short_code: str) -> Response:
    """Change the fields sent (null: ``title``, ``validUntil`` and ``maxVisits`` removed)."""
    link = _find(short_code)
    data = inputs.body()
    _common_checks(data)
    changes: dict[str, Any] = {}
    for name, field in _EDITABLE.items():
        if name not in data:
            continue
        value = data[name]
        if name == "longUrl" and not isinstance(value, str):
            raise refused(name, "Give the long URL as text.")
        if name == "title":
            value = _text_or_none(name, value)
        elif name == "tags":
            value = inputs.tags(name, value) or []
        elif name == "validUntil":
            value = inputs.moment(name, value)
        changes[field] = value
    if changes:
        link = update_link(link, **changes)
    return jsonify(_item(link))


@bp.route(f"{V3}/short-urls/<short_code>", methods=["DELETE"])
@_with_key("write")
def delete_short_url(short_code: str) -> Response:
    delete_link(_find(short_code))
    return Response(status=204)


@bp.route(f"{V3}/short-urls/<short_code>/redirect-rules", methods=["GET"])
@_with_key("read")
def redirect_rules(short_code: str) -> Response:
    """No redirect rules (yet): every visit goes to the long URL."""
    link = _find(short_code)
    return jsonify(defaultLongUrl=link.url, redirectRules=[])


@bp.route(f"{V3}/short-urls/<short_code>/redirect-rules", methods=["POST"])
@_with_key("write")
def set_redirect_rules(short_code: str) -> Response:
    """Setting no rules is what LinkFleet has; any rule is refused."""
    link = _find(short_code)
    rules = inputs.body().get("redirectRules")
    if rules not in (None, []):
        raise refused("redirectRules", _REDIRECT_RULES)
    return jsonify(defaultLongUrl=link.url, redirectRules=[])


# -- visits -------------------------------------------------------------------------------------


def _visits_query() -> dict[str, Any]:
    """A visit list's arguments, checked (a bad one is ``invalid-data``), as an empty list."""
    window = inputs.window()
    inputs.date_range()
    inputs.arg_flag("excludeBots")
    return shapes.no_visits(window.page, window.items_per_page)


@bp.route(f"{V3}/short-urls/<short_code>/visits", methods=["GET"])
@_with_key("read")
def short_url_visits(short_code: str) -> Response:
    _find(short_code)
    return jsonify(_visits_query())


@bp.route(f"{V3}/short-urls/<short_code>/visits", methods=["DELETE"])
@_with_key("write")
def delete_short_url_visits(short_code: str) -> Response:
    """Erase the link's counted visits (its aggregates); the visit limit's counter stays."""
    link = _find(short_code)
    return jsonify(deletedVisits=erase_link_visits(link.id))


@bp.route(f"{V3}/tags/<tag>/visits", methods=["GET"])
@_with_key("read")
def tag_visits(tag: str) -> Response:
    if not _tagged(tag):
        raise tag_not_found(tag)
    return jsonify(_visits_query())


@bp.route(f"{V3}/domains/<domain>/visits", methods=["GET"])
@_with_key("read")
def domain_visits(domain: str) -> Response:
    if not inputs.is_default_domain(domain):
        raise domain_not_found(domain)
    return jsonify(_visits_query())


@bp.route(f"{V3}/visits", methods=["GET"])
@_with_key("read")
def visits_overview() -> Response:
    """The key owner's visits in all (Shlink's current and deprecated members); LinkFleet
    counts no orphan visits yet."""
    summary = summaries.of_user(g.api_user)
    none = summaries.Summary()
    return jsonify(
        visits={
            "nonOrphanVisits": summary.json(),
            "orphanVisits": none.json(),
            "visitsCount": summary.total,
            "orphanVisitsCount": none.total,
        }
    )


@bp.route(f"{V3}/visits/non-orphan", methods=["GET"])
@_with_key("read")
def non_orphan_visits() -> Response:
    return jsonify(_visits_query())


@bp.route(f"{V3}/visits/orphan", methods=["GET"])
@_with_key("read")
def orphan_visits() -> Response:
    """No orphan visits are recorded yet: an empty list."""
    if (inputs.arg("type") or "base_url") not in {"base_url", "invalid_short_url", "regular_404"}:
        raise refused("type", "Use base_url, invalid_short_url or regular_404.")
    return jsonify(_visits_query())


@bp.route(f"{V3}/visits/orphan", methods=["DELETE"])
@_with_key("write")
def delete_orphan_visits() -> Response:
    return jsonify(deletedVisits=0)


# -- tags ---------------------------------------------------------------------------------------


def _tagged(tag: str) -> list[Link]:
    name = tag.strip().lower()
    if not name or fields.CONTROL_CHARACTERS.search(name) or len(name) > fields.MAX_TAG_LENGTH:
        return []
    return summaries.tagged_links(g.api_user, name)


def _tag_stats() -> tuple[list[summaries.TagStats], dict[str, int]]:
    """The key owner's tags, ``searchTerm``-filtered, ``orderBy``-ordered and paged."""
    window = inputs.window(default=inputs.ALL_ITEMS)
    term = (inputs.arg("searchTerm") or "").lower()
    stats = [item for item in summaries.of_tags(g.api_user) if term in item.tag]
    chosen = inputs.order(_TAG_ORDERS)
    if chosen is not None:
        name, direction = chosen
        keys: dict[str, Callable[[summaries.TagStats], Any]] = {
            "tag": lambda item: item.tag,
            "shortUrlsCount": lambda item: (item.links, item.tag),
            "visits": lambda item: (item.visits.total, item.tag),
            "nonBotVisits": lambda item: (item.visits.total - item.visits.bots, item.tag),
        }
        stats.sort(key=keys[name], reverse=direction == "DESC")
    return shapes.page_of(stats, window.page, window.items_per_page)


@bp.route(f"{V3}/tags", methods=["GET"])
@_with_key("read")
def list_tags() -> Response:
    stats, paginator = _tag_stats()
    return jsonify(tags={"data": [item.tag for item in stats], "pagination": paginator})


@bp.route(f"{V3}/tags/stats", methods=["GET"])
@_with_key("read")
def tags_stats() -> Response:
    stats, paginator = _tag_stats()
    data = [
        {"tag": item.tag, "shortUrlsCount": item.links, "visitsSummary": item.visits.json()}
        for item in stats
    ]
    return jsonify(tags={"data": data, "pagination": paginator})


def _tag_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise refused(field, "Give a tag name.")
    try:
        return normalise_tags([value])[0]
    except ValidationError as error:
        raise refused(field, error.errors["tags"]) from None


@bp.route(f"{V3}/tags", methods=["PUT"])
@_with_key("write")
def rename_tag() -> Response:
    """Rename a tag on the key owner's links (an admin's: on every link)."""
    data = inputs.body()
    problems = {
        name: "Give a tag name."
        for name in ("oldName", "newName")
        if not isinstance(data.get(name), str) or not data[name].strip()
    }
    if problems:
        raise invalid_data(problems)
    old, new = data["oldName"], _tag_name("newName", data["newName"])
    links = _tagged(old)
    if not links:
        raise tag_not_found(old)
    name = old.strip().lower()
    if new != name and _tagged(new):
        raise ShlinkProblem(
            409,
            TAG_CONFLICT,
            "Tag conflict",
            f"You cannot rename tag {old} to {new}, because it already exists",
            oldName=old,
            newName=new,
        )
    for link in links:
        update_link(link, tags=[new if tag.name == name else tag.name for tag in link.tags])
    return Response(status=204)


@bp.route(f"{V3}/tags", methods=["DELETE"])
@_with_key("write")
def delete_tags() -> Response:
    """Take the ``tags[]`` off the key owner's links (unknown names are no error)."""
    names = {name.strip().lower() for name in inputs.arg_list("tags")}
    for name in sorted(names):
        for link in _tagged(name):
            update_link(link, tags=[tag.name for tag in link.tags if tag.name not in names])
    return Response(status=204)


# -- domains, health, the rest ------------------------------------------------------------------


def _authority() -> str:
    """The default domain: the host of the short URLs (``PUBLIC_URL``'s or this request's)."""
    return urlsplit(queries.short_url("x")).netloc or request.host


@bp.route(f"{V3}/domains", methods=["GET"])
@_with_key("read")
def list_domains() -> Response:
    return jsonify(shapes.domains_json(_authority()))


@bp.route(f"{V3}/domains/redirects", methods=["PATCH"])
@_with_key("write")
def edit_domain_redirects() -> Response:
    """No fallback redirects (yet): setting them all to null is accepted, anything else not."""
    data = inputs.body()
    if not isinstance(data.get("domain"), str) or not inputs.is_default_domain(data["domain"]):
        raise refused("domain", "Give LinkFleet's own domain.")
    for name in shapes.NO_REDIRECTS:
        if data.get(name) is not None:
            raise refused(name, _DOMAIN_REDIRECTS)
    return jsonify(dict(shapes.NO_REDIRECTS))


@bp.route(f"{V3}/mercure-info", methods=["GET"])
@_with_key("read")
def mercure_info() -> Response:
    raise ShlinkProblem(
        501,
        MERCURE_NOT_CONFIGURED,
        "Mercure integration not configured",
        "This Shlink instance is not integrated with a mercure hub.",
    )


@bp.route("/health", methods=["GET"])
@bp.route(f"{V3}/health", methods=["GET"])
def health() -> Response:
    """Shlink's health check: ``pass`` when the database answers, else ``fail`` (503)."""
    try:
        db.session.execute(text("SELECT 1"))
        passing = True
    except DEPENDENCY_ERRORS:
        db.session.rollback()
        passing = False
    response = jsonify(
        status="pass" if passing else "fail", version=SHLINK_VERSION, links=shapes.HEALTH_LINKS
    )
    response.status_code = 200 if passing else 503
    response.mimetype = "application/health+json"
    return response


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/", methods=_METHODS)
@bp.route("/<path:rest>", methods=_METHODS)
def not_supported(rest: str = "") -> Response:
    """Anything else under ``/rest``: 405 with ``Allow`` for a method a path does not have,
    else Shlink's ``not-found``."""
    allowed = allowed_methods("shlink.not_supported")
    if allowed:
        raise ShlinkProblem(
            405,
            "about:blank",
            "Method Not Allowed",
            f"Use {', '.join(sorted(allowed))} on this path.",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    raise ShlinkProblem(404, NOT_FOUND, "Not found", "Requested route does not exist.")
