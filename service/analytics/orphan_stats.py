"""The statistics of orphan visits (:mod:`.orphans`): what the admin page and
``GET /api/v1/visits/orphan`` show.

Orphan visits belong to no link and so to no account: only administrators see them. Same
range arguments as a link's statistics (:func:`.stats.stats_range`), read on a replica when
there are any.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from ..extensions.database import run_read
from .models import OrphanHourly
from .orphans import TYPES
from .stats import DEFAULT_TOP, StatsRange, _counts, _iso, stats_range

#: The "top" lists: key in the result -> column of :class:`OrphanHourly`.
ORPHAN_TOP_LISTS = (("hosts", "host"), ("referrers", "referrer_host"))


def orphan_report(
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    granularity: str | None = None,
    *,
    type: str | None = None,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """Orphan visits between ``start`` and ``end``, all types or one ``type``::

        {"from", "to", "granularity", "type",
         "totals": {"visits", "humans", "bots"},
         "types": [{"value", "visits", "humans", "bots"}, ...],   # every type, zeros too
         "series": [{"start", "visits", "humans", "bots"}, ...],  # every bucket
         "top": {"hosts" | "referrers": [{"value", "visits", "humans", "bots"}, ...]}}

    ``value`` ``""``: no referrer; ``"other"``: beyond the hour's cap. Raises
    :class:`~.stats.StatsQueryError` for a bad range; ``type`` must be one of :data:`TYPES`.
    """
    if type is not None and type not in TYPES:
        raise ValueError(f"unknown orphan visit type {type!r}")
    span = stats_range(start, end, granularity)
    return run_read(lambda session: _report(session, span, type, top))


def orphan_totals() -> tuple[int, int]:
    """Every orphan visit counted so far, of all types and hours: ``(visits, bot_visits)``
    (Shlink's overview has no period)."""
    statement = select(
        func.coalesce(func.sum(OrphanHourly.visits), 0),
        func.coalesce(func.sum(OrphanHourly.bot_visits), 0),
    )

    def read(session: Session) -> tuple[int, int]:
        visits, bots = session.execute(statement).one()
        return int(visits), int(bots)

    return run_read(read)


def _report(session: Session, span: StatsRange, kind: str | None, top: int) -> dict[str, Any]:
    table = OrphanHourly
    where: list[ColumnElement[bool]] = [table.hour >= span.start, table.hour < span.end]
    of_type = table.type == kind if kind is not None else true()
    visits, bots = func.sum(table.visits), func.sum(table.bot_visits)
    sums: dict[datetime, list[int]] = {point: [0, 0] for point in span.buckets()}
    for hour, v, b in session.execute(
        select(table.hour, visits, bots).where(*where, of_type).group_by(table.hour)
    ):
        bucket = sums.get(span.bucket_of(hour))
        if bucket is not None:
            bucket[0] += int(v or 0)
            bucket[1] += int(b or 0)
    by_type = {
        row[0]: row[1:]
        for row in session.execute(
            select(table.type, visits, bots).where(*where).group_by(table.type)
        )
    }
    lists = {}
    for key, name in ORPHAN_TOP_LISTS:
        column = getattr(table, name)
        rows = session.execute(
            select(column, visits, bots)
            .where(*where, of_type)
            .group_by(column)
            .order_by((visits - bots).desc(), visits.desc(), column)
            .limit(top)
        )
        lists[key] = [{"value": value, **_counts(int(v or 0), int(b or 0))} for value, v, b in rows]
    total = sum(v for v, _ in sums.values())
    total_bots = sum(b for _, b in sums.values())
    return {
        "from": _iso(span.start),
        "to": _iso(span.end),
        "granularity": span.granularity,
        "type": kind,
        "totals": _counts(total, total_bots),
        "types": [
            {"value": name, **_counts(*(int(x or 0) for x in by_type.get(name, (0, 0))))}
            for name in TYPES
        ],
        "series": [{"start": _iso(point), **_counts(*sums[point])} for point in sorted(sums)],
        "top": lists,
    }


__all__ = ["ORPHAN_TOP_LISTS", "orphan_report", "orphan_totals"]
