"""Visit summaries in Shlink's terms (``total``, ``nonBots``, ``bots``) from the analytics
worker's hourly aggregates, for a page of links, for each tag and for all of a user's links.

Read from a replica when there is one (:func:`~service.extensions.database.run_read`), like
the listings: the aggregates trail the clicks by the worker's few seconds anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..analytics.models import HourlyVisits
from ..extensions import db
from ..extensions.database import run_read
from ..links.models import Link, Tag, link_tags
from ..links.services import visible_links

if TYPE_CHECKING:
    from ..accounts.models import User


@dataclass(frozen=True)
class Summary:
    """Visits counted so far; ``bots`` are part of ``total``."""

    total: int = 0
    bots: int = 0

    def json(self) -> dict[str, int]:
        return {"total": self.total, "nonBots": self.total - self.bots, "bots": self.bots}


@dataclass(frozen=True)
class TagStats:
    tag: str
    links: int
    visits: Summary


def _sums() -> tuple[Any, Any]:
    return (
        func.coalesce(func.sum(HourlyVisits.visits), 0),
        func.coalesce(func.sum(HourlyVisits.bot_visits), 0),
    )


def of_links(link_ids: Sequence[int]) -> dict[int, Summary]:
    """Each link's summary (links without visits are left out: :class:`Summary` ``()``)."""
    if not link_ids:
        return {}
    statement = (
        select(HourlyVisits.link_id, *_sums())
        .where(HourlyVisits.link_id.in_(list(link_ids)))
        .group_by(HourlyVisits.link_id)
    )

    def read(session: Session) -> dict[int, Summary]:
        return {
            link_id: Summary(int(total), int(bots))
            for link_id, total, bots in session.execute(statement)
        }

    return run_read(read)


def _visible_ids(user: User) -> Any:
    return visible_links(user).with_only_columns(Link.id).order_by(None).scalar_subquery()


def of_user(user: User) -> Summary:
    """Every link ``user`` may see, together."""
    statement = select(*_sums()).where(HourlyVisits.link_id.in_(_visible_ids(user)))

    def read(session: Session) -> Summary:
        total, bots = session.execute(statement).one()
        return Summary(int(total), int(bots))

    return run_read(read)


def of_tags(user: User) -> list[TagStats]:
    """Each tag on the links ``user`` may see, with how many of them carry it and their
    visits, by name."""
    per_link = (
        select(HourlyVisits.link_id.label("link_id"), *_sums())
        .group_by(HourlyVisits.link_id)
        .subquery()
    )
    total, bots = per_link.c[1], per_link.c[2]
    statement = (
        select(
            Tag.name,
            func.count(link_tags.c.link_id),
            func.coalesce(func.sum(total), 0),
            func.coalesce(func.sum(bots), 0),
        )
        .join(link_tags, link_tags.c.tag_id == Tag.id)
        .outerjoin(per_link, per_link.c.link_id == link_tags.c.link_id)
        .where(link_tags.c.link_id.in_(_visible_ids(user)))
        .group_by(Tag.name)
        .order_by(Tag.name)
    )

    def read(session: Session) -> list[TagStats]:
        return [
            TagStats(name, int(links), Summary(int(visits), int(bot_visits)))
            for name, links, visits, bot_visits in session.execute(statement)
        ]

    return run_read(read)


def tagged_links(user: User, tag: str) -> list[Link]:
    """The links ``user`` may see that carry ``tag`` (on the primary: for a write)."""
    statement = visible_links(user).where(Link.tags.any(Tag.name == tag)).order_by(Link.id)
    return list(db.session.scalars(statement))
