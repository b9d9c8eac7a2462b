"""The read side of links: listings with search, filters, order and pages, click totals,
visit-limit counters and short URLs, for the API, the dashboard and the export.

Listings and the export may be a moment stale, so they run on a read replica when there are
any (:func:`~service.extensions.database.run_read`, falling back to the primary); a single
link read for an edit (``If-Match``, the dashboard's detail page) stays on the primary with
the write services. Each page of links comes with its click totals in the same query: the
sum of the analytics worker's hourly aggregates per link (so a click shows here once the
worker has counted it, within seconds). The visit-limit counters of limited links come from
Redis in one round trip; they are None when Redis cannot answer, rather than the page failing.

Visibility is the services' :func:`~.services.visible_links`: what a user may see.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from math import ceil
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from flask import current_app, has_request_context, request
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..analytics.models import HourlyVisits
from ..domains.registry import DomainRecord
from ..extensions import db
from ..extensions.database import run_read
from . import fields
from .cache import link_cache
from .models import Link, Tag, link_tags
from .services import visible_links
from .visits import VISITS_KEY

if TYPE_CHECKING:
    from ..accounts.models import User

#: ``sort`` values and their ORDER BY; the first is the default.
SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "newest": ("Newest first", (Link.created_at.desc(), Link.id.desc())),
    "oldest": ("Oldest first", (Link.created_at.asc(), Link.id.asc())),
    "slug": ("Short name A to Z", (Link.slug.asc(),)),
    "-slug": ("Short name Z to A", (Link.slug.desc(),)),
}
#: Links per export chunk: each chunk is a short query of its own.
EXPORT_CHUNK = 1000


@dataclass
class LinkRow:
    """A link with what is shown next to it (the ``row`` of :attr:`.fields.LinkField.show`)."""

    link: Link
    #: Clicks counted by the analytics worker.
    clicks: int = 0
    #: Visits counted against ``max_visits`` (None: no limit, or Redis unavailable).
    limit_used: int | None = None
    short_url: str = ""


@dataclass
class LinkFilter:
    """What a listing is narrowed to; every criterion is optional and they combine with AND."""

    #: Text in any searchable field (slug, URL, title), case-insensitive.
    q: str = ""
    tag: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: Only this user's links, even for an admin who may see all (Kutt's list without ``all``).
    owner_id: int | None = None
    #: Links with any (``all_tags``: every one) of these tags, and without any (``all``: all
    #: at once) of ``without_tags`` (Shlink's ``tags[]``/``excludeTags[]`` with their modes).
    tags: tuple[str, ...] = ()
    all_tags: bool = False
    without_tags: tuple[str, ...] = ()
    without_all_tags: bool = False
    #: Leave out links whose expiry has passed before ``now`` / whose clicks reached the limit.
    not_expired_at: datetime | None = None
    not_used_up: bool = False
    #: Only links on this domain (:data:`~service.domains.registry.DEFAULT`: the default one).
    domain: DomainRecord | None = None


@dataclass
class LinkPage:
    """One page of a listing, with what a pager needs."""

    items: list[LinkRow]
    total: int
    page: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self) -> None:
        self.pages = ceil(self.total / self.per_page) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def iter_pages(self) -> Iterator[int | None]:
        """Page numbers to link, None for a gap: the two first and last, and around this one
        (as Flask-SQLAlchemy's pager does)."""
        end = self.pages + 1
        if end == 1:
            return
        left_end = min(3, end)
        yield from range(1, left_end)
        if left_end == end:
            return
        mid_start, mid_end = max(left_end, self.page - 2), min(self.page + 5, end)
        if mid_start > left_end:
            yield None
        yield from range(mid_start, mid_end)
        if mid_end == end:
            return
        right_start = max(mid_end, end - 2)
        if right_start > mid_end:
            yield None
        yield from range(right_start, end)


def short_url(slug: str, host: str | None = None) -> str:
    """``PUBLIC_URL`` + slug when configured, else this request's host; on an added domain
    ``host``, ``<scheme>://<host>/<slug>`` with ``PUBLIC_URL``'s scheme (else the request's,
    else https)."""
    public_url = current_app.config.get("PUBLIC_URL") or ""
    if host:
        scheme = urlsplit(public_url).scheme or (
            request.scheme if has_request_context() else "https"
        )
        return f"{scheme}://{host}/{slug}"
    base = public_url or (request.host_url if has_request_context() else "/")
    return f"{base.rstrip('/')}/{slug}"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(statement: Select[Any], criteria: LinkFilter) -> Select[Any]:
    """``statement`` narrowed to ``criteria``."""
    if criteria.q:
        pattern = f"%{_escape_like(criteria.q)}%"
        statement = statement.where(
            or_(*(getattr(Link, name).ilike(pattern, escape="\\") for name in fields.SEARCHABLE))
        )
    if criteria.tag:
        statement = statement.where(Link.tags.any(Tag.name == criteria.tag.strip().lower()))
    if criteria.created_after is not None:
        statement = statement.where(Link.created_at >= criteria.created_after)
    if criteria.created_before is not None:
        statement = statement.where(Link.created_at < criteria.created_before)
    if criteria.owner_id is not None:
        statement = statement.where(Link.owner_id == criteria.owner_id)
    if criteria.tags:
        statement = statement.where(_tagged(criteria.tags, every=criteria.all_tags))
    if criteria.without_tags:
        statement = statement.where(
            ~_tagged(criteria.without_tags, every=criteria.without_all_tags)
        )
    if criteria.not_expired_at is not None:
        statement = statement.where(
            or_(Link.expires_at.is_(None), Link.expires_at > criteria.not_expired_at)
        )
    if criteria.not_used_up:
        statement = statement.where(
            or_(Link.max_visits.is_(None), clicks_of(Link.id) < Link.max_visits)
        )
    if criteria.domain is not None:
        statement = statement.where(Link.on_domain(criteria.domain.id))
    return statement


def _tagged(names: Sequence[str], *, every: bool) -> ColumnElement[bool]:
    """Links with any (``every``: all) of the tags ``names`` (lower-cased as stored)."""
    wanted = [name.strip().lower() for name in names]
    if every:
        return and_(*(Link.tags.any(Tag.name == name) for name in wanted))
    return Link.tags.any(Tag.name.in_(wanted))


def clicks_of(link_id: Any, *, humans: bool = False) -> ColumnElement[int]:
    """A link's click total: the sum of its hourly aggregates (a scalar subquery);
    ``humans``: without the bots' visits."""
    counted = HourlyVisits.visits - HourlyVisits.bot_visits if humans else HourlyVisits.visits
    total = select(func.coalesce(func.sum(counted), 0)).where(HourlyVisits.link_id == link_id)
    return total.scalar_subquery()


def _with_clicks(session: Session, statement: Select[Any]) -> list[tuple[Link, int]]:
    """The links of ``statement`` with their click totals, in one query."""
    query = statement.add_columns(clicks_of(Link.id))
    return [(link, int(clicks)) for link, clicks in session.execute(query).all()]


def limit_counters(links: Sequence[Link]) -> list[int | None]:
    """Visits counted against each limited link's ``max_visits`` (None for unlimited links),
    in one Redis round trip; all None when Redis cannot answer."""
    limited = [link.id for link in links if link.max_visits]
    if not limited:
        return [None] * len(links)
    try:
        raw = link_cache.redis.mget([VISITS_KEY.format(link_id) for link_id in limited])
    except redis.RedisError as error:
        current_app.logger.warning("visit counters unavailable: %s", error)
        return [None] * len(links)
    counts = {
        link_id: int(value) if value is not None else 0
        for link_id, value in zip(limited, raw, strict=True)
    }
    return [counts.get(link.id) if link.max_visits else None for link in links]


def _rows(pairs: Sequence[tuple[Link, int]]) -> list[LinkRow]:
    links = [link for link, _ in pairs]
    counters = limit_counters(links)
    return [
        LinkRow(link, clicks, used, short_url(link.slug, link.host))
        for (link, clicks), used in zip(pairs, counters, strict=True)
    ]


def listing(
    user: User,
    criteria: LinkFilter | None = None,
    *,
    sort: str = "newest",
    page: int = 1,
    per_page: int = 20,
    last_page_if_past: bool = False,
    offset: int | None = None,
    order_by: Sequence[Any] = (),
) -> LinkPage:
    """One page of the links ``user`` may see, ``criteria`` applied, in ``sort`` order, with
    click totals and visit-limit counters, read from a replica when there is one.
    ``last_page_if_past``: a page past the end shows the last page instead of nothing.
    ``offset``: rows to skip instead of whole pages (APIs that page by ``skip``).
    ``order_by``: ORDER BY clauses instead of ``sort``'s (an API's own orders)."""
    visible = visible_links(user)
    statement = filtered(visible, criteria or LinkFilter())
    ordered = statement.order_by(*(order_by or SORTS.get(sort, SORTS["newest"])[1]))
    if user.is_admin:
        ordered = ordered.options(selectinload(Link.owner))

    def read(session: Session) -> tuple[int, int, list[tuple[Link, int]]]:
        total = session.scalar(
            select(func.count()).select_from(statement.order_by(None).subquery())
        )
        number = page
        if last_page_if_past and total and (number - 1) * per_page >= total:
            number = ceil(total / per_page)
        skipped = (number - 1) * per_page if offset is None else offset
        window = ordered.limit(per_page).offset(skipped)
        return total or 0, number, _with_clicks(session, window)

    total, number, pairs = run_read(read)
    return LinkPage(_rows(pairs), total, number, per_page)


#: Orders of :func:`ranked`: by click total (most, fewest), newest first, or at random.
RANKINGS: dict[str, tuple[Any, ...]] = {
    "top": (clicks_of(Link.id).desc(), Link.id.desc()),
    "bottom": (clicks_of(Link.id).asc(), Link.id.asc()),
    "last": (Link.created_at.desc(), Link.id.desc()),
    "rand": (func.random(),),
}


def ranked(user: User, ranking: str, *, limit: int, offset: int = 0) -> list[LinkRow]:
    """``limit`` of the links ``user`` may see in a :data:`RANKINGS` order, from ``offset``,
    with click totals (YOURLS' ``stats`` action), read from a replica when there is one."""
    statement = visible_links(user).order_by(*RANKINGS[ranking]).limit(limit).offset(max(offset, 0))
    return _rows(run_read(lambda session: _with_clicks(session, statement)))


def totals(user: User) -> tuple[int, int]:
    """How many links ``user`` may see and their clicks in all, from a replica."""
    link_ids = visible_links(user).with_only_columns(Link.id).order_by(None).scalar_subquery()
    links = select(func.count()).select_from(visible_links(user).order_by(None).subquery())
    clicks = select(func.coalesce(func.sum(HourlyVisits.visits), 0)).where(
        HourlyVisits.link_id.in_(link_ids)
    )

    def read(session: Session) -> tuple[int, int]:
        return int(session.scalar(links) or 0), int(session.scalar(clicks) or 0)

    return run_read(read)


def tag_names(user: User) -> list[str]:
    """Names of the tags on the links ``user`` may see (a filter menu), from a replica."""
    link_ids = visible_links(user).with_only_columns(Link.id).order_by(None).scalar_subquery()
    statement = (
        select(Tag.name)
        .join(link_tags, link_tags.c.tag_id == Tag.id)
        .where(link_tags.c.link_id.in_(link_ids))
        .distinct()
        .order_by(Tag.name)
    )
    return run_read(lambda session: list(session.scalars(statement)))


def all_rows(user: User, chunk: int | None = None) -> Iterator[LinkRow]:
    """Every link ``user`` may see, oldest first, ``chunk`` at a time (the export).

    Keyset pagination (``id > last ORDER BY id LIMIT n``), each chunk a short query of its own
    on a replica, rather than one cursor held open for the whole download: a slow client then
    never pins a connection and snapshot, and memory holds one chunk.
    """
    size = chunk or EXPORT_CHUNK
    base = visible_links(user).order_by(Link.id)
    last = 0
    while True:
        statement = base.where(Link.id > last).limit(size)

        def read(session: Session, statement: Select[Any] = statement) -> list[tuple[Link, int]]:
            return _with_clicks(session, statement)

        pairs = run_read(read)
        if not pairs:
            return
        last = pairs[-1][0].id
        yield from _rows(pairs)


def row_of(link: Link) -> LinkRow:
    """One link (already loaded, on the primary) with its click total and counter."""
    clicks = db.session.scalar(select(clicks_of(link.id))) or 0
    return _rows([(link, int(clicks))])[0]


def etag_of(link: Link) -> str:
    """A strong ETag of the link's stored row: its columns and tags, nothing computed.

    So the same link has the same ETag whatever host name it is read through, and a click
    (a live count) does not make the ``If-Match`` of a client that edits the link fail.
    """
    stored = {column.key: getattr(link, column.key) for column in Link.__table__.columns}
    stored["password_hash"] = link.password_hash is not None  # never the hash itself
    stored["tags"] = [tag.name for tag in link.tags]
    encoded = json.dumps(stored, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


__all__ = [
    "RANKINGS",
    "SORTS",
    "LinkFilter",
    "LinkPage",
    "LinkRow",
    "all_rows",
    "clicks_of",
    "etag_of",
    "filtered",
    "limit_counters",
    "listing",
    "ranked",
    "row_of",
    "short_url",
    "tag_names",
    "totals",
]
