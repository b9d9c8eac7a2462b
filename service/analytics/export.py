"""One link's visits as CSV downloads, streamed page by page.

LinkFleet keeps aggregates, not a row per visit (:mod:`.models`), so the downloads are what
is stored, every row of the link's whole history:

``visits.csv`` (:data:`HOURLY`)
    ``hour,visits,bot_visits``: one row per UTC hour with at least one visit, oldest first;
    ``hour`` is its start in ISO 8601 (``2026-05-28T09:00:00Z``), ``visits`` counts every
    redirect served in it, bots included, ``bot_visits`` the bots among them.
``dimensions.csv`` (:data:`DAILY`)
    ``day,dimension,value,visits,bot_visits``: per UTC day (``2026-05-28``), per dimension
    (``referrer``, ``browser``, ``os``, ``device``, ``country``) and per value, the visits
    with that value; ``value`` is empty for "none or not recorded" (a direct visit, capture
    turned off, DNT). Each dimension's rows of a day add up to that day's visits.

Each page is a short keyset query of its own on a read replica (as the links export:
:func:`service.links.queries.all_rows`), so a slow client pins no connection and memory
holds one page whatever the history. Text cells a spreadsheet would run as a formula are
escaped (:func:`service.csv_cells.safe_cell`): referrers and browser names come from visitors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from flask import Response, current_app, stream_with_context
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ..csv_cells import csv_line, safe_cell
from ..extensions.database import run_read
from ..links.models import Link
from .models import DailyDimension, HourlyVisits

#: A page of result rows (named tuples of the selected columns).
Rows = Sequence[Any]
#: Rows read per query (``ANALYTICS_EXPORT_PAGE_SIZE`` overrides it).
PAGE_SIZE = 1000


@dataclass(frozen=True)
class VisitsExport:
    """One kind of download: its file name, header and page query."""

    name: str
    header: tuple[str, ...]
    #: ``page(session, link_id, after, size)``: the next rows after the key ``after``.
    page: Callable[[Session, int, tuple[Any, ...] | None, int], Rows]
    #: The keyset key of a row (what ``after`` is).
    key: Callable[[Any], tuple[Any, ...]]
    #: The CSV cells of a row.
    cells: Callable[[Any], list[Any]]


def _hourly_page(session: Session, link_id: int, after: tuple[Any, ...] | None, size: int) -> Rows:
    query = select(HourlyVisits.hour, HourlyVisits.visits, HourlyVisits.bot_visits).where(
        HourlyVisits.link_id == link_id
    )
    if after is not None:
        query = query.where(HourlyVisits.hour > after[0])
    return session.execute(query.order_by(HourlyVisits.hour).limit(size)).all()


def _daily_page(session: Session, link_id: int, after: tuple[Any, ...] | None, size: int) -> Rows:
    key = (DailyDimension.day, DailyDimension.dimension, DailyDimension.value)
    query = select(*key, DailyDimension.visits, DailyDimension.bot_visits).where(
        DailyDimension.link_id == link_id
    )
    if after is not None:
        query = query.where(tuple_(*key) > tuple_(*after))
    return session.execute(query.order_by(*key).limit(size)).all()


HOURLY = VisitsExport(
    name="visits",
    header=("hour", "visits", "bot_visits"),
    page=_hourly_page,
    key=lambda row: (row.hour,),
    cells=lambda row: [
        row.hour.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        row.visits,
        row.bot_visits,
    ],
)
DAILY = VisitsExport(
    name="dimensions",
    header=("day", "dimension", "value", "visits", "bot_visits"),
    page=_daily_page,
    key=lambda row: (row.day, row.dimension, row.value),
    cells=lambda row: [
        row.day.isoformat(),
        row.dimension,
        safe_cell(row.value),
        row.visits,
        row.bot_visits,
    ],
)
#: The downloads by name (``visits.csv``, ``dimensions.csv``).
EXPORTS = {export.name: export for export in (HOURLY, DAILY)}


def export_rows(export: VisitsExport, link_id: int, size: int = PAGE_SIZE) -> Iterator[str]:
    """The CSV of ``export`` for one link: the header, then every stored row, a page at a
    time."""
    yield csv_line(export.header)
    after: tuple[Any, ...] | None = None
    while True:

        def read(session: Session, after: tuple[Any, ...] | None = after) -> Rows:
            return export.page(session, link_id, after, size)

        rows = run_read(read)
        for row in rows:
            yield csv_line(export.cells(row))
        if len(rows) < size:
            return
        after = export.key(rows[-1])


def download(link: Link, export: VisitsExport) -> Response:
    """The streamed download of ``export`` for ``link`` (authorization is the caller's:
    ``get_link_for``)."""
    size = int(current_app.config.get("ANALYTICS_EXPORT_PAGE_SIZE", PAGE_SIZE))
    body = export_rows(export, link.id, size)
    response = current_app.response_class(stream_with_context(body), mimetype="text/csv")
    filename = f"{link.slug}-{export.name}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


__all__ = ["DAILY", "EXPORTS", "HOURLY", "PAGE_SIZE", "VisitsExport", "download", "export_rows"]
