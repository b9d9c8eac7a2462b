"""Write a peer's pages into LinkFleet for one owner, idempotently, through the links service.

Per page: a slug that is already the owner's link to the same URL is *skipped* (imported
before: a re-run creates nothing twice); a slug that is taken by another URL, or by another
account, is a *conflict*, reported and never overwritten; the others go through
:func:`~service.links.services.write_batch` (the field checks, the signals, the link cache's
eviction), and what it refuses is *failed* with the reason. Then the new links get the peer's
creation date and visit total: one hourly aggregate at the creation hour (so the link's
clicks show the total; the peer's per-visit rows are not read) and, for a link with a visit
limit, the limit's counter, so visits already spent stay spent. A peer that fails halfway
ends the run with what was written kept and ``stopped`` saying where.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..analytics.models import HourlyVisits
from ..extensions import db
from ..extensions.types import utcnow
from ..links import fields
from ..links.cache import link_cache
from ..links.errors import ValidationError
from ..links.models import Link
from ..links.services import write_batch
from ..links.visits import VISITS_KEY
from .peers import Page, Peer, PeerError, PeerLink

if TYPE_CHECKING:
    from ..accounts.models import User

logger = logging.getLogger(__name__)

#: The report keeps at most this many conflicts and failures (the counts cover all).
MAX_REPORTED = 1000


@dataclass
class MigrationReport:
    """What a run did; ``position`` is how many of the peer's links it read."""

    peer: str
    total: int | None = None
    position: int = 0
    imported: int = 0
    skipped: int = 0
    conflicts: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    conflict_count: int = 0
    failed_count: int = 0
    stopped: str = ""

    @property
    def complete(self) -> bool:
        return not self.stopped

    def note(self, kind: str, slug: str, reason: str) -> None:
        entries = self.conflicts if kind == "conflict" else self.failed
        if kind == "conflict":
            self.conflict_count += 1
        else:
            self.failed_count += 1
        if len(entries) < MAX_REPORTED:
            entries.append({"slug": slug, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "total": self.total,
            "position": self.position,
            "imported": self.imported,
            "skipped": self.skipped,
            "conflicts": self.conflict_count,
            "failed": self.failed_count,
            "conflict_details": self.conflicts,
            "failed_details": self.failed,
            "complete": self.complete,
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MigrationReport:
        return cls(
            peer=data["peer"],
            total=data.get("total"),
            position=int(data.get("position", 0)),
            imported=int(data.get("imported", 0)),
            skipped=int(data.get("skipped", 0)),
            conflicts=list(data.get("conflict_details", [])),
            failed=list(data.get("failed_details", [])),
            conflict_count=int(data.get("conflicts", 0)),
            failed_count=int(data.get("failed", 0)),
            stopped=data.get("stopped", ""),
        )


Progress = Callable[[MigrationReport, int], None]


def run_migration(
    owner: User,
    peer: Peer,
    *,
    start: int = 0,
    progress: Progress | None = None,
    report: MigrationReport | None = None,
) -> MigrationReport:
    """Read ``peer`` from ``start`` and write every page; ``progress(report, page_size)``
    after each page (a bar, a job row). ``report`` goes on counting a run taken over."""
    if report is None:
        report = MigrationReport(peer=peer.kind, position=start)
    report.position, report.stopped = start, ""
    seen: set[str] = set()
    try:
        for page in peer.pages(start):
            report.total = page.total
            import_page(owner, page, report, seen)
            report.position = page.position
            if progress is not None:
                progress(report, len(page.links))
    except PeerError as error:
        report.stopped = f"stopped after {report.position} links: {error}"
    return report


def import_page(owner: User, page: Page, report: MigrationReport, seen: set[str]) -> None:
    """Skip, refuse or write each link of ``page`` (one transaction for the new ones)."""
    context = fields.CheckContext.current()
    candidates: list[tuple[PeerLink, dict[str, Any]]] = []
    for link in page.links:
        if link.problem:
            report.note("failed", link.slug, link.problem)
            continue
        if not link.slug:
            report.note("failed", "", "the peer gave no short name")
            continue
        if link.slug in seen:  # a link read twice (the peer's list moved between pages)
            continue
        seen.add(link.slug)
        values = {
            "url": link.url,
            "slug": link.slug,
            "title": link.title[: fields.MAX_TITLE_LENGTH],
            "tags": list(link.tags),
            "expires_at": link.expires_at,
            "max_visits": link.max_visits,
            "crawlable": link.crawlable,
            "forward_query": link.forward_query,
        }
        try:
            candidates.append((link, fields.check(values, context)))
        except ValidationError as error:
            report.note("failed", link.slug, _reason(error.errors))
    existing = {
        slug: (url, owner_id)
        for slug, url, owner_id in db.session.execute(
            select(Link.slug, Link.url, Link.owner_id).where(
                Link.slug.in_([values["slug"] for _, values in candidates])
            )
        )
    }
    rows: list[tuple[int, dict[str, Any]]] = []
    by_slug: dict[str, PeerLink] = {}
    for number, (link, values) in enumerate(candidates):
        slug = str(values["slug"])
        if slug in existing:
            url, owner_id = existing[slug]
            if owner_id != owner.id:
                report.note("conflict", slug, "the short name is another account's link")
            elif url != values["url"]:
                report.note("conflict", slug, f"the short name already points to {url}")
            else:
                report.skipped += 1
            continue
        rows.append((number, values))
        by_slug[slug] = link
    if not rows:
        return
    outcome = write_batch(owner, rows, context=context)
    for _, failed_slug, errors in outcome.failed:
        kind = "conflict" if "slug" in errors else "failed"
        report.note(kind, failed_slug or "", _reason(errors))
    report.skipped += outcome.skipped
    report.imported += len(outcome.created)
    _carry_history([by_slug[slug] for slug in outcome.created])


def _reason(errors: dict[str, str]) -> str:
    """The links service's field messages as one line of the report."""
    return "; ".join(f"{name}: {message}" for name, message in errors.items())


def _carry_history(created: list[PeerLink]) -> None:
    """The peer's creation dates and visit totals onto the links just created."""
    if not created:
        return
    ids = dict(
        db.session.execute(
            select(Link.slug, Link.id).where(Link.slug.in_([link.slug for link in created]))
        ).all()
    )
    aggregates: list[dict[str, Any]] = []
    counters: dict[int, int] = {}
    for link in created:
        link_id = ids[link.slug]
        if link.created_at is not None:
            db.session.execute(
                update(Link).where(Link.id == link_id).values(created_at=link.created_at)
            )
        if link.visits:
            moment = link.created_at or utcnow()
            hour = moment.replace(minute=0, second=0, microsecond=0)
            aggregates.append(
                {"link_id": link_id, "hour": hour, "visits": link.visits, "bot_visits": 0}
            )
            if link.max_visits is not None:
                counters[link_id] = min(link.visits, link.max_visits)
    if aggregates:
        dialect = db.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(HourlyVisits).values(aggregates)
        db.session.execute(statement.on_conflict_do_nothing())
    db.session.commit()
    if counters:
        try:
            link_cache.redis.mset({VISITS_KEY.format(key): n for key, n in counters.items()})
        except redis.RedisError as error:  # the links are committed: they stay
            logger.warning("could not carry %d visit counters to Redis: %s", len(counters), error)


__all__ = ["MigrationReport", "import_page", "run_migration"]
