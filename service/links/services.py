"""The write API of links, shared by the dashboard and the REST API.

Every function validates first (all field errors at once, as :class:`ValidationError`),
commits, then sends its signal, so subscribers (the cache's invalidation, analytics) only
ever hear of committed changes. Visibility rules live here too, so that no view can forget
them: users see their own links, admins see all, and a link someone may not see is reported
exactly like a link that does not exist.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis
from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from .. import signals
from ..extensions import db
from ..extensions.types import utcnow
from ..passwords import hash_password
from . import visits
from .errors import LinkError, SlugTaken, ValidationError
from .models import DEFAULT_REDIRECT_TYPE, REDIRECT_TYPES, Link, Tag
from .slugs import generate_slug, slug_problem
from .validation import service_hosts, validate_target_url

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
]

logger = logging.getLogger(__name__)

MAX_TITLE_LENGTH = 200
#: Control characters other than whitespace; PostgreSQL cannot even store NUL in text.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_TAG_LENGTH = 64
MAX_TAGS = 20
MAX_PASSWORD_LENGTH = 1024
MAX_VISITS_LIMIT = 2**31 - 1
#: The fields :func:`update_link` accepts.
UPDATABLE_FIELDS = frozenset(
    {
        "url",
        "slug",
        "title",
        "tags",
        "redirect_type",
        "expires_at",
        "max_visits",
        "password",
        "disabled",
    }
)
# A commit can lose a race (the same new tag or random slug inserted by another replica).
_COMMIT_ATTEMPTS = 3


def create_link(
    owner: User,
    *,
    url: str,
    slug: str | None = None,
    title: str = "",
    tags: Sequence[str] = (),
    redirect_type: int = DEFAULT_REDIRECT_TYPE,
    expires_at: datetime | None = None,
    max_visits: int | None = None,
    password: str | None = None,
) -> Link:
    """Create, commit and announce (``link_created``) a link owned by ``owner``.

    ``slug`` None or empty picks a random one. ``password`` None or empty means none.
    Raises :class:`ValidationError` (422) or :class:`SlugTaken` (409).
    """
    values = _clean(
        {
            "url": url,
            "slug": slug,
            "title": title,
            "tags": tags,
            "redirect_type": redirect_type,
            "expires_at": expires_at,
            "max_visits": max_visits,
            "password": password,
        }
    )
    custom_slug: str | None = values["slug"]
    if custom_slug is not None and _slug_exists(custom_slug):
        raise SlugTaken(custom_slug)
    password_hash = hash_password(values["password"]) if values["password"] else None

    owner_id = owner.id

    def attempt() -> Link:
        link = Link(
            slug=custom_slug or generate_slug(_slug_exists),
            url=values["url"],
            title=values["title"],
            redirect_type=values["redirect_type"],
            expires_at=values["expires_at"],
            max_visits=values["max_visits"],
            password_hash=password_hash,
            disabled=False,
            owner_id=owner_id,
        )
        link.tags = _tags_named(values["tags"])
        db.session.add(link)
        return link

    link = _commit(attempt, custom_slug)
    _best_effort("reset the visit counter of", link.slug, lambda: visits.forget_visits(link.id))
    signals.link_created.send(_app(), link=link)
    return link


def update_link(link: Link, **changes: Any) -> Link:
    """Change some fields of ``link`` (the keyword names of :func:`create_link`, plus
    ``disabled``), commit and announce (``link_updated``).

    ``password=""`` removes the password, ``password=None`` leaves it alone; ``slug=None``
    keeps the slug; ``expires_at=None`` and ``max_visits=None`` remove the limit. The visit
    counter is kept when ``max_visits`` changes and across a new slug (it is keyed by the
    link's id).
    """
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"update_link() got unexpected fields: {', '.join(sorted(unknown))}")
    values = _clean(changes)
    old_slug = link.slug
    new_slug: str | None = values.pop("slug", None)
    if new_slug == old_slug:
        new_slug = None
    if new_slug is not None:
        if _slug_exists(new_slug):
            raise SlugTaken(new_slug)
        values["slug"] = new_slug
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
        return link

    _commit(attempt, new_slug)
    signals.link_updated.send(_app(), slug=old_slug, link=link)
    return link


def delete_link(link: Link) -> None:
    """Delete, commit and announce (``link_deleted``); the slug becomes free again."""
    slug, link_id = link.slug, link.id
    db.session.delete(link)
    db.session.commit()
    _best_effort("drop the visit counter of", slug, lambda: visits.forget_visits(link_id))
    signals.link_deleted.send(_app(), slug=slug)


def visible_links(user: User) -> Select[Link]:
    """A query of the links ``user`` may see: their own, or all for an admin (unordered)."""
    query = select(Link)
    if not user.is_admin:
        query = query.where(Link.owner_id == user.id)
    return query


def get_link_for(user: User, slug: str) -> Link:
    """The link ``slug`` if ``user`` may see it; else :class:`~werkzeug.exceptions.NotFound`,
    the same whether it does not exist or belongs to someone else (no IDOR oracle)."""
    link = db.session.scalars(visible_links(user).where(Link.slug == slug)).first()
    if link is None:
        raise NotFound("There is no link with this short name.")
    return link


def normalise_tags(tags: Sequence[str] | str | None) -> list[str]:
    """Lower-cased, trimmed, de-duplicated tag names in their first order.

    A single string is split on commas (what a form field gives); a tag longer than
    :data:`MAX_TAG_LENGTH`, or more than :data:`MAX_TAGS` tags, is a :class:`ValidationError`.
    """
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    names: list[str] = []
    for raw in tags:
        if not isinstance(raw, str):
            raise ValidationError({"tags": "Tags must be text."})
        if _CONTROL_CHARACTERS.search(raw):
            raise ValidationError({"tags": "Tags must not contain control characters."})
        name = " ".join(raw.split()).lower()
        if not name or name in names:
            continue
        if len(name) > MAX_TAG_LENGTH:
            raise ValidationError({"tags": f"A tag may have at most {MAX_TAG_LENGTH} characters."})
        names.append(name)
    if len(names) > MAX_TAGS:
        raise ValidationError({"tags": f"Use at most {MAX_TAGS} tags."})
    return names


# -- helpers ------------------------------------------------------------------------------------


def _app() -> Any:
    """The real app object, the sender of our signals."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _slug_exists(slug: str) -> bool:
    with db.session.no_autoflush:
        return db.session.scalar(select(Link.id).where(Link.slug == slug)) is not None


def _tags_named(names: Sequence[str]) -> list[Tag]:
    """Tag rows for ``names``, creating the missing ones (in the current transaction)."""
    if not names:
        return []
    with db.session.no_autoflush:
        found = db.session.scalars(select(Tag).where(Tag.name.in_(names)))
        existing = {tag.name: tag for tag in found}
    return [existing.get(name) or Tag(name=name) for name in names]


def _commit(attempt: Callable[[], Link], slug: str | None) -> Link:
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
            if slug is not None and _slug_exists(slug):
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


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise the given fields; all problems at once as ValidationError."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        try:
            cleaned[name] = _CLEANERS[name](value)
        except ValidationError as error:
            errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_url(value: Any) -> str:
    return validate_target_url(value, own_hosts=service_hosts())


def _clean_slug(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError({"slug": "The short name must be text."})
    slug = value.strip()
    if not slug:
        return None
    problem = slug_problem(slug)
    if problem:
        raise ValidationError({"slug": problem})
    return slug


def _clean_title(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError({"title": "The title must be text."})
    if _CONTROL_CHARACTERS.search(value):
        raise ValidationError({"title": "The title must not contain control characters."})
    title = " ".join(value.split())
    if len(title) > MAX_TITLE_LENGTH:
        raise ValidationError({"title": f"Use at most {MAX_TITLE_LENGTH} characters."})
    return title


def _as_int(field: str, value: Any, message: str) -> int:
    if isinstance(value, bool):
        raise ValidationError({field: message})
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValidationError({field: message})


def _clean_redirect_type(value: Any) -> int:
    allowed = ", ".join(str(code) for code in REDIRECT_TYPES)
    message = f"Choose one of {allowed}."
    code = _as_int("redirect_type", value, message)
    if code not in REDIRECT_TYPES:
        raise ValidationError({"redirect_type": message})
    return code


def _clean_expires_at(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, datetime):
        raise ValidationError({"expires_at": "Give the expiry as a date and time."})
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if moment <= utcnow():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    return moment


def _clean_max_visits(value: Any) -> int | None:
    if value is None or value == "":
        return None
    message = f"Give a whole number from 1 to {MAX_VISITS_LIMIT}."
    limit = _as_int("max_visits", value, message)
    if not 1 <= limit <= MAX_VISITS_LIMIT:
        raise ValidationError({"max_visits": message})
    return limit


def _clean_password(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError({"password": "The password must be text."})  # nosec B105  # a message
    if len(value) > MAX_PASSWORD_LENGTH:
        raise ValidationError({"password": f"Use at most {MAX_PASSWORD_LENGTH} characters."})
    return value


def _clean_disabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError({"disabled": "Give true or false."})
    return value


_CLEANERS: dict[str, Callable[[Any], Any]] = {
    "url": _clean_url,
    "slug": _clean_slug,
    "title": _clean_title,
    "tags": normalise_tags,
    "redirect_type": _clean_redirect_type,
    "expires_at": _clean_expires_at,
    "max_visits": _clean_max_visits,
    "password": _clean_password,
    "disabled": _clean_disabled,
}
