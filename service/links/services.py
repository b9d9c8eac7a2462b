"""The write API of links, shared by the dashboard, the REST API and the importer.

What each field accepts and how it is checked is declared in :mod:`.fields`. Every function
validates first (all field errors at once, as :class:`ValidationError`), stages its webhook
event in the transaction (:mod:`service.webhooks.outbox`: it commits with the change or not
at all), commits, then sends its signal, so subscribers (the cache's invalidation, analytics)
only ever hear of committed changes. Visibility rules live here too, so that no view can forget
them: users see their own links, admins see all, and a link someone may not see is reported
exactly like a link that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from flask import current_app
from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from .. import signals
from ..domains.hosts import request_host
from ..domains.models import Domain
from ..extensions import db
from ..extensions.types import utcnow
from ..passwords import hash_password
from ..webhooks import outbox
from . import fields, visits
from .cache import cache_key, link_cache
from .errors import LinkError, SlugTaken, ValidationError
from .models import Link, Tag, link_tags
from .slugs import generate_slug

if TYPE_CHECKING:
    from ..accounts.models import User

__all__ = [
    "LinkError",
    "SlugTaken",
    "ValidationError",
    "create_link",
    "delete_link",
    "get_link_for",
    "normalise_tags",
    "update_link",
    "visible_links",
    "write_batch",
]

logger = logging.getLogger(__name__)

# Re-exported: callers know the limits as the services' (the fields declare them).
MAX_TITLE_LENGTH = fields.MAX_TITLE_LENGTH
MAX_TAG_LENGTH = fields.MAX_TAG_LENGTH
MAX_TAGS = fields.MAX_TAGS
MAX_PASSWORD_LENGTH = fields.MAX_PASSWORD_LENGTH
MAX_VISITS_LIMIT = fields.MAX_VISITS_LIMIT
#: The fields :func:`update_link` accepts.
UPDATABLE_FIELDS = fields.UPDATABLE
# A commit can lose a race (the same new tag or random slug inserted by another replica).
_COMMIT_ATTEMPTS = 3


def create_link(owner: User, **values: Any) -> Link:
    """Create, commit and announce (``link_created``) a link owned by ``owner``.

    The keywords are the creatable fields of :mod:`.fields` (``url`` required); a field not
    given takes its declared default. ``slug`` None or empty picks a random one,
    ``password`` None or empty means none.
    Raises :class:`ValidationError` (422) or :class:`SlugTaken` (409).
    """
    unknown = set(values) - set(fields.CREATABLE)
    if unknown or "url" not in values:
        raise TypeError(f"create_link() needs url and takes {', '.join(fields.CREATABLE)}")
    checked = fields.check(
        {name: values.get(name, fields.BY_NAME[name].default) for name in fields.CREATABLE}
    )
    custom_slug: str | None = checked["slug"]
    domain_id: int | None = checked["domain"]
    if custom_slug is not None and _slug_exists(custom_slug, domain_id):
        raise SlugTaken(custom_slug)
    password_hash = hash_password(checked["password"]) if checked["password"] else None

    owner_id = owner.id

    def attempt() -> Link:
        link = Link(
            slug=custom_slug or generate_slug(lambda slug: _slug_exists(slug, domain_id)),
            password_hash=password_hash,
            owner_id=owner_id,
            domain_id=domain_id,
            **{name: checked[name] for name in fields.COLUMNS if name in checked},
        )
        link.tags = _tags_named(checked["tags"])
        db.session.add(link)
        outbox.link_created(link)
        return link

    link = _commit(attempt, custom_slug, domain_id)
    _best_effort("reset the visit counter of", link.slug, lambda: visits.forget_visits(link.id))
    signals.link_created.send(_app(), link=link)
    return link


def update_link(link: Link, **changes: Any) -> Link:
    """Change some fields of ``link`` (the updatable fields of :mod:`.fields`), commit and
    announce (``link_updated``).

    ``password=""`` removes the password, ``password=None`` leaves it alone; ``slug=None``
    keeps the slug; ``expires_at=None`` and ``max_visits=None`` remove the limit. The visit
    counter is kept when ``max_visits`` changes and across a new slug (it is keyed by the
    link's id).
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"update_link() got unexpected fields: {', '.join(sorted(unknown))}")
    values = fields.check(changes)
    old_slug, old_host, old_domain_id = link.slug, link.host, link.domain_id
    new_slug: str | None = values.pop("slug", None)
    domain_id = values.pop("domain", old_domain_id)
    if new_slug == old_slug:
        new_slug = None
    moved = new_slug is not None or domain_id != old_domain_id
    if moved and _slug_exists(new_slug or old_slug, domain_id):
        raise SlugTaken(new_slug or old_slug)
    if new_slug is not None:
        values["slug"] = new_slug
    if domain_id != old_domain_id:
        values["domain_id"] = domain_id
    password = values.pop("password", None)
    if password is not None:
        values["password_hash"] = hash_password(password) if password else None
    tag_names = values.pop("tags", None)

    def attempt() -> Link:
        for name, value in values.items():
            setattr(link, name, value)
        if tag_names is not None:
            link.tags = _tags_named(tag_names)
        link.updated_at = utcnow()
        outbox.link_updated(link, old_slug)
        return link

    _commit(attempt, new_slug, domain_id)
    signals.link_updated.send(_app(), slug=old_slug, host=old_host, link=link)
    return link


def delete_link(link: Link) -> None:
    """Delete, commit and announce (``link_deleted``); the slug becomes free again."""
    slug, link_id, owner_id, host = link.slug, link.id, link.owner_id, link.host
    db.session.delete(link)
    outbox.link_deleted(slug, owner_id)
    db.session.commit()
    _best_effort("drop the visit counter of", slug, lambda: visits.forget_visits(link_id))
    signals.link_deleted.send(_app(), slug=slug, host=host, link_id=link_id, owner_id=owner_id)


def visible_links(user: User) -> Select[Link]:
    """A query of the links ``user`` may see: their own, or all for an admin (unordered)."""
    query = select(Link)
    if not user.is_admin:
        query = query.where(Link.owner_id == user.id)
    return query


def get_link_for(user: User, slug: str, host: str | None = None) -> Link:
    """The link ``slug`` on the domain ``host`` (None: the default domain) if ``user`` may
    see it; else :class:`~werkzeug.exceptions.NotFound`, the same whether it does not exist
    or belongs to someone else (no IDOR oracle)."""
    query = visible_links(user).where(Link.slug == slug)
    if host:
        normal = request_host(host) or host
        query = query.join(Domain, Link.domain_id == Domain.id).where(Domain.host == normal)
    else:
        query = query.where(Link.domain_id.is_(None))
    link = db.session.scalars(query).first()
    if link is None:
        raise NotFound("There is no link with this short name.")
    return link


def normalise_tags(tags: Sequence[str] | str | None) -> list[str]:
    """Lower-cased, trimmed, de-duplicated tag names (see :func:`.fields.normalise_tags`)."""
    return fields.normalise_tags(tags)


# -- helpers ------------------------------------------------------------------------------------


def _app() -> Any:
    """The real app object, the sender of our signals."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _slug_exists(slug: str, domain_id: int | None = None) -> bool:
    """Whether ``slug`` is taken on the domain ``domain_id`` (None: the default domain)."""
    on_domain = Link.on_domain(domain_id)
    with db.session.no_autoflush:
        return (
            db.session.scalar(select(Link.id).where(Link.slug == slug, on_domain).limit(1))
            is not None
        )


def _tags_named(names: Sequence[str]) -> list[Tag]:
    """Tag rows for ``names``, creating the missing ones (in the current transaction)."""
    if not names:
        return []
    with db.session.no_autoflush:
        found = db.session.scalars(select(Tag).where(Tag.name.in_(names)))
        existing = {tag.name: tag for tag in found}
    return [existing.get(name) or Tag(name=name) for name in names]


def _commit(attempt: Callable[[], Link], slug: str | None, domain_id: int | None = None) -> Link:
    """Run ``attempt`` and commit; on a lost race roll back and try again.

    ``slug`` is the slug the caller asked for: if the race was lost on it, that is
    :class:`SlugTaken` rather than a retry (a random slug is simply drawn again).
    """
    for remaining in range(_COMMIT_ATTEMPTS - 1, -1, -1):
        link = attempt()
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            if slug is not None and _slug_exists(slug, domain_id):
                raise SlugTaken(slug) from None
            if not remaining:
                raise
            continue
        return link
    raise AssertionError("unreachable")  # pragma: no cover


def _best_effort(action: str, slug: str, operation: Callable[[], None]) -> None:
    """Redis bookkeeping that must not undo a committed change when Redis is down."""
    try:
        operation()
    except redis.RedisError as error:
        logger.warning("could not %s %s in Redis: %s", action, slug, error)


# -- many links at once (the importer) ----------------------------------------------------------


@dataclass
class BatchResult:
    """What :func:`write_batch` did with each row (row numbers are the caller's)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: int = 0
    #: The link cache keys of what was written (:func:`.cache.cache_key`: domain and slug).
    keys: list[str] = field(default_factory=list)
    #: Ids of the links created (their visit counters are reset).
    created_ids: list[int] = field(default_factory=list)
    failed: list[tuple[int, str | None, dict[str, str]]] = field(default_factory=list)


def write_batch(
    owner: User,
    rows: Sequence[tuple[int, dict[str, Any]]],
    *,
    update_existing: bool = False,
    context: fields.CheckContext | None = None,
) -> BatchResult:
    """Create (or, with ``update_existing``, update) many links in one transaction.

    Each row is checked exactly like :func:`create_link` checks its arguments (a row that fails
    is reported, the others are written); the writes are bulk statements. After the commit, as
    for a single link: the new links' visit counters are reset (one pipeline) and
    ``links_written`` is sent, on which the link cache evicts every written slug on every
    replica (one message round for the batch instead of one per link). A row whose slug belongs
    to someone else fails; one of the owner's is skipped or updated. A lost race (a slug or tag
    inserted meanwhile) rolls back and tries again, then fails the batch's rows.
    """
    context = context or fields.CheckContext.current()
    result = BatchResult()
    checked: list[tuple[int, dict[str, Any]]] = []
    for number, raw in rows:
        try:
            checked.append((number, fields.check(raw, context)))
        except ValidationError as error:
            slug = raw.get("slug")
            result.failed.append((number, slug if isinstance(slug, str) else None, error.errors))
    outcome: BatchResult | None = None
    for _ in range(_COMMIT_ATTEMPTS):
        try:
            outcome = _write_checked(owner.id, checked, update_existing, context.hosts)
            outbox.links_written(outcome.created, outcome.updated)
            db.session.commit()
            break
        except IntegrityError:
            db.session.rollback()
            outcome = None
    if outcome is None:
        message = "Conflicted with a concurrent change; import this row again."
        for number, values in checked:
            result.failed.append((number, values.get("slug"), {"slug": message}))
        return result
    outcome.failed[:0] = result.failed
    if outcome.created_ids:
        _best_effort("reset the visit counters of", "a batch", lambda: _forget(outcome.created_ids))
    if outcome.created or outcome.updated:
        signals.links_written.send(
            _app(), created=outcome.created, updated=outcome.updated, keys=outcome.keys
        )
    return outcome


def _forget(link_ids: list[int]) -> None:
    """:func:`visits.forget_visits` of the links ``link_ids``, sent as one pipeline
    (counters are keyed by link id, which SQLite may hand out again after a delete)."""
    pipe = link_cache.redis.pipeline(transaction=False)
    for link_id in link_ids:
        visits.forget_visits(link_id, client=pipe)
    pipe.execute()


def _tag_ids(names: set[str]) -> dict[str, int]:
    """Ids of the tags ``names``, inserting the missing ones (a race is an IntegrityError)."""
    if not names:
        return {}
    found: dict[str, int] = dict(
        db.session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names))).all()
    )
    missing = sorted(names - found.keys())
    if missing:
        db.session.execute(insert(Tag), [{"name": name} for name in missing])
        found.update(
            (name, tag_id)
            for name, tag_id in db.session.execute(
                select(Tag.name, Tag.id).where(Tag.name.in_(missing))
            )
        )
    return found


def _draw_slugs(count: int, avoid: set[str]) -> list[str]:
    """``count`` free random slugs: drawn locally, checked against the table in one query."""
    chosen: list[str] = []
    while len(chosen) < count:
        fresh = [generate_slug(lambda s: s in avoid) for _ in range(count - len(chosen))]
        avoid.update(fresh)
        taken = set(db.session.scalars(select(Link.slug).where(Link.slug.in_(fresh))))
        chosen.extend(slug for slug in fresh if slug not in taken)
    return chosen


def _row_columns(values: dict[str, Any], now: Any) -> dict[str, Any]:
    """A checked row's values as ``links`` columns (only those the row has)."""
    columns: dict[str, Any] = {"updated_at": now}
    for name in fields.COLUMNS:
        if name in values:
            columns[name] = values[name]
    if values.get("password"):
        columns["password_hash"] = hash_password(values["password"])
    return columns


def _write_checked(
    owner_id: int,
    batch: list[tuple[int, dict[str, Any]]],
    update_existing: bool,
    hosts: dict[int, str],
) -> BatchResult:
    """Insert or update the checked rows with bulk statements (the caller commits). A slug
    is matched on its row's domain (``hosts``: the added domains' hosts by id)."""
    outcome = BatchResult()
    named = {values["slug"] for _, values in batch if values.get("slug")}
    existing: dict[tuple[int | None, str], tuple[int, int]] = (
        {
            (domain_id, slug): (link_id, link_owner)
            for slug, domain_id, link_id, link_owner in db.session.execute(
                select(Link.slug, Link.domain_id, Link.id, Link.owner_id).where(
                    Link.slug.in_(named)
                )
            )
        }
        if named
        else {}
    )
    random_slugs = iter(_draw_slugs(sum(1 for _, v in batch if not v.get("slug")), set(named)))
    tag_ids = _tag_ids({name for _, values in batch for name in values.get("tags") or ()})
    defaults = {
        name: fields.BY_NAME[name].default for name in fields.COLUMNS if fields.BY_NAME[name].create
    }

    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    new_tags: dict[tuple[int | None, str], list[int]] = {}
    updates: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple[int | None, str], int] = {}  # (domain, slug) -> index in new_rows
    for row, values in batch:
        slug = values.get("slug") or next(random_slugs)
        domain_id = values.get("domain")
        place = (domain_id, slug)
        if place in existing:
            link_id, link_owner = existing[place]
            if link_owner != owner_id:
                outcome.failed.append(
                    (row, slug, {"slug": f"The short name “{slug}” is already taken."})
                )
            elif update_existing:
                updates.append((link_id, values))
                outcome.updated.append(slug)
                outcome.keys.append(cache_key(slug, hosts.get(domain_id or 0)))
            else:
                outcome.skipped += 1
            continue
        if place in seen:  # the same slug twice in one batch: the first row wins
            if update_existing:
                new_rows[seen[place]].update(_row_columns(values, now))
                new_tags[place] = [tag_ids[name] for name in values.get("tags") or ()]
            else:
                outcome.skipped += 1
            continue
        seen[place] = len(new_rows)
        new_rows.append(
            {
                **defaults,
                "slug": slug,
                "password_hash": None,  # nosec B105  # no password set
                "disabled": False,
                "owner_id": owner_id,
                "domain_id": domain_id,
                "created_at": now,
                **_row_columns(values, now),
            }
        )
        new_tags[place] = [tag_ids[name] for name in values.get("tags") or ()]
        outcome.created.append(slug)
        outcome.keys.append(cache_key(slug, hosts.get(domain_id or 0)))

    if new_rows:
        ids: dict[tuple[int | None, str], int] = {
            (domain_id, slug): link_id
            for domain_id, slug, link_id in db.session.execute(
                insert(Link).returning(Link.domain_id, Link.slug, Link.id), new_rows
            ).all()
        }
        outcome.created_ids = list(ids.values())
        pairs = [
            {"link_id": ids[place], "tag_id": tag_id}
            for place, tags in new_tags.items()
            for tag_id in tags
        ]
        if pairs:
            db.session.execute(insert(link_tags), pairs)
    for link_id, values in updates:
        db.session.execute(
            update(Link).where(Link.id == link_id).values(**_row_columns(values, now))
        )
        if "tags" in values:
            db.session.execute(delete(link_tags).where(link_tags.c.link_id == link_id))
            pairs = [{"link_id": link_id, "tag_id": tag_ids[n]} for n in values["tags"] or ()]
            if pairs:
                db.session.execute(insert(link_tags), pairs)
    return outcome
