"""Short URLs: list, create, read, edit and delete (their redirect rules: :mod:`.redirect_rules`).

Authorization is the links service's: :func:`~service.links.services.visible_links` only
ever yields what the key's owner may see (own links; an admin all), and anything else is
answered exactly like a short code that names no link (``short-url-not-found``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import g, jsonify
from sqlalchemy import Select, select
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from ..domains.registry import DomainRecord
from ..extensions import db
from ..extensions.types import utcnow
from ..links import fields, queries
from ..links.models import Link
from ..links.services import (
    ValidationError,
    create_link,
    delete_link,
    get_link_for,
    normalise_tags,
    update_link,
)
from ..links.slugs import MAX_SLUG_LENGTH, generate_slug
from . import V3, bp, domains, inputs, shapes, summaries
from .auth import with_key
from .errors import (
    invalid_data,
    refused,
    short_url_not_found,
)

_DEVICE_URLS = "LinkFleet has no per-device long URLs."
_SHORT_URL_ORDERS = ("dateCreated", "shortCode", "longUrl", "title", "visits", "nonBotVisits")
_MICROSECOND = timedelta(microseconds=1)


def find(short_code: str) -> Link:
    """The link ``short_code`` names on the domain ``?domain=`` names (left out: the default
    one) if the key's owner may see it; else Shlink's ``short-url-not-found``."""
    name = inputs.arg("domain")
    domain = domains.resolve(name)
    if domain is None:
        raise short_url_not_found(short_code, name)
    if len(short_code) > MAX_SLUG_LENGTH or fields.CONTROL_CHARACTERS.search(short_code):
        raise short_url_not_found(short_code, domain.host or None)
    try:
        return get_link_for(g.api_user, short_code, domain.host or None)
    except NotFound:
        raise short_url_not_found(short_code, domain.host or None) from None


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


def _criteria(domain: DomainRecord | None) -> queries.LinkFilter:
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
        domain=domain,
    )


@bp.route(f"{V3}/short-urls", methods=["GET"])
@with_key("read")
def list_short_urls() -> Response:
    """The key owner's links (an admin's: all), filtered, ordered and paged as Shlink's."""
    window = inputs.window()
    name = inputs.arg("domain") or None  # left out: every domain
    domain = None if name is None else domains.resolve(name)
    criteria, order = _criteria(domain), _order()
    if name is not None and domain is None:  # no link is on a domain this service lacks
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


def _same_link(
    url: str, domain: DomainRecord, slug: str | None, tags: list[str] | None, limit: Any
) -> Link | None:
    """``findIfExists``: the owner's link to ``url`` on ``domain`` with the same slug, tags
    and visit limit when those were sent."""
    statement: Select[Link] = queries.filtered(
        select(Link).where(Link.owner_id == g.api_user.id, Link.url == url),
        queries.LinkFilter(domain=domain),
    )
    if slug:
        statement = statement.where(Link.slug == slug)
    if limit is not None:
        statement = statement.where(Link.max_visits == limit)
    wanted = sorted(normalise_tags(tags)) if tags is not None else None
    for link in db.session.scalars(statement.order_by(Link.id)):
        if wanted is None or sorted(tag.name for tag in link.tags) == wanted:
            return link
    return None


#: Shlink's switches, the link field each one is, and Shlink's default on create.
_FLAGS = {"crawlable": ("crawlable", False), "forwardQuery": ("forward_query", True)}


def _common_checks(data: dict[str, Any]) -> None:
    """What create and edit refuse alike: per-device URLs, a start date."""
    if data.get("deviceLongUrls"):
        raise refused("deviceLongUrls", _DEVICE_URLS)
    inputs.valid_since(data.get("validSince"))


def _text_or_none(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise refused(name, "Must be text.")
    return value


def _slug_is_taken(slug: str) -> bool:
    """Taken on any domain: a generated short code is then free on each."""
    return db.session.scalar(select(Link.id).where(Link.slug == slug)) is not None


def _domain_of(value: Any) -> DomainRecord:
    """A create's ``domain``: one of this service's, else ``invalid-data``."""
    domain = domains.resolve(value)
    if domain is None:
        raise refused(
            "domain", f"Not a domain of this service; use one of {domains.known_domains()}."
        )
    return domain


@bp.route(f"{V3}/short-urls", methods=["POST"])
@with_key("write")
def create_short_url() -> Response:
    """Create a short URL (Shlink answers 200), or with ``findIfExists`` answer the
    owner's matching one."""
    data = inputs.body()
    long_url = data.get("longUrl")
    if not isinstance(long_url, str) or not long_url.strip():
        raise refused("longUrl", "Give the long URL to shorten.")
    _common_checks(data)
    domain = _domain_of(data.get("domain"))
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
        same = _same_link(url, domain, slug, tags, max_visits)
        if same is not None:
            return jsonify(_item(same))
    if not slug and length is not None:
        slug = generate_slug(_slug_is_taken, length=length)
    link = create_link(  # a taken slug is the service's SlugTaken: non-unique-slug
        g.api_user,
        url=long_url,
        slug=slug,
        domain=domain.host or None,
        tags=tags or [],
        title=title,
        expires_at=expires_at,
        max_visits=max_visits,
        **{
            field: inputs.flag(name, data.get(name), default)
            for name, (field, default) in _FLAGS.items()
        },
    )
    return jsonify(_item(link))


@bp.route(f"{V3}/short-urls/<short_code>", methods=["GET"])
@with_key("read")
def get_short_url(short_code: str) -> Response:
    return jsonify(_item(find(short_code)))


#: Shlink's edit fields and the ``update_link`` field each one is.
_EDITABLE = {
    "longUrl": "url",
    "title": "title",
    "tags": "tags",
    "validUntil": "expires_at",
    "maxVisits": "max_visits",
}


@bp.route(f"{V3}/short-urls/<short_code>", methods=["PATCH"])
@with_key("write")
def edit_short_url(short_code: str) -> Response:
    """Change the fields sent (null: ``title``, ``validUntil`` and ``maxVisits`` removed,
    ``crawlable`` and ``forwardQuery`` Shlink's defaults)."""
    link = find(short_code)
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
    for name, (field, default) in _FLAGS.items():
        if name in data:  # null is Shlink's default, as on create
            changes[field] = inputs.flag(name, data[name], default)
    if changes:
        link = update_link(link, **changes)
    return jsonify(_item(link))


@bp.route(f"{V3}/short-urls/<short_code>", methods=["DELETE"])
@with_key("write")
def delete_short_url(short_code: str) -> Response:
    delete_link(find(short_code))
    return Response(status=204)
