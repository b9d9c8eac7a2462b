"""Folding a batch of click events into the aggregate tables, idempotently.

:func:`store_events` runs inside one database transaction (the worker's, one per batch):

1. insert the batch's event ids into ``analytics_processed_events`` with
   ``ON CONFLICT DO NOTHING RETURNING event_id`` - the ids it returns are the events never
   counted before; everything else in the batch is a redelivery or a replay and is skipped.
   Two workers racing on the same event cannot both get its id back (PostgreSQL makes the
   second insert wait for the first transaction; SQLite has one writer at a time);
2. find each event's link: by the link id the event carries (a renamed link keeps its
   clicks, a new link reusing a slug does not inherit the old one's), by slug only for
   events spooled before events carried the id. A click on a link deleted since is dropped,
   counted as orphan - also on SQLite, which hands a deleted highest id to the next new
   link: there a click older than its link belongs to the deleted one;
3. add the new events to the hourly, daily-dimension and daily-visitor rows with upserts
   (``INSERT ... ON CONFLICT DO UPDATE SET visits = visits + excluded.visits``), rows sorted
   by key so that concurrent workers take row locks in the same order.

The same SQL runs on SQLite (3.35+) and PostgreSQL. Nothing is committed here; if anything
fails the caller rolls the whole batch back and retries it, so a batch counts all or nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, delete, select
from sqlalchemy.engine import Dialect

from ..links.models import Link
from .models import MAX_VALUE_LENGTH, DailyDimension, DailyVisitor, HourlyVisits, ProcessedEvent

_PROCESSED: Table = ProcessedEvent.__table__
_HOURLY: Table = HourlyVisits.__table__
_DIMENSIONS: Table = DailyDimension.__table__
_VISITORS: Table = DailyVisitor.__table__

#: Event field of each dimension.
DIMENSION_FIELDS = (
    ("referrer", "ref"),
    ("browser", "br"),
    ("os", "os"),
    ("device", "dev"),
    ("country", "cc"),
)
#: Rows per multi-row statement and slugs per ``IN (...)`` lookup (at most 6 columns:
#: well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters).
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Event:
    """A click event as the worker sees it (see :mod:`.capture` for the fields)."""

    id: str
    slug: str
    ts: float
    #: The link's id (None in events spooled by a version that keyed clicks by slug).
    link: int | None = None
    ref: str = ""
    br: str = ""
    os: str = ""
    dev: str = ""
    bot: bool = False
    cc: str = ""
    ip: str = ""

    @property
    def hour(self) -> datetime:
        return datetime.fromtimestamp(self.ts - self.ts % 3600, UTC)

    @property
    def day(self) -> date:
        return datetime.fromtimestamp(self.ts, UTC).date()


def _text(data: dict[str, Any], key: str, limit: int = MAX_VALUE_LENGTH) -> str:
    value = data.get(key, "")
    return value[:limit] if isinstance(value, str) else ""


def parse_event(raw: bytes | str) -> Event | None:
    """The event in a stream entry's JSON, or None when it is not a valid event."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    event_id, slug, ts = data.get("id"), data.get("slug"), data.get("ts")
    if not isinstance(event_id, str) or not 8 <= len(event_id) <= 32:
        return None
    if not isinstance(slug, str) or not slug or len(slug) > 64:
        return None
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return None
    if not 0 < ts < 32503680000:  # before the year 3000
        return None
    link = data.get("link")
    if link is not None and (isinstance(link, bool) or not isinstance(link, int) or link < 1):
        return None
    return Event(
        id=event_id,
        slug=slug,
        ts=float(ts),
        link=link,
        ref=_text(data, "ref"),
        br=_text(data, "br"),
        os=_text(data, "os"),
        dev=_text(data, "dev"),
        bot=bool(data.get("bot")),
        cc=_text(data, "cc", 8),
        ip=_text(data, "ip", 32),
    )


@dataclass
class StoreResult:
    """What a batch did: events newly counted, skipped as already counted, and dropped
    because their link no longer exists."""

    counted: int = 0
    duplicates: int = 0
    orphans: int = 0
    #: Newly counted clicks per link id (what ``link.clicked`` webhooks announce).
    clicks: dict[int, int] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class _Insert:
    """One batch statement: ``INSERT INTO table (columns) <rows> <tail>``.

    ``types`` are the PostgreSQL array types of the columns. Table and column names are our
    own constants; every value is a bound parameter.
    """

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    tail: str


_CLAIM = _Insert(
    "analytics_processed_events",
    ("event_id", "processed_at"),
    ("text[]", "bigint[]"),
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
)
_VISITORS_INSERT = _Insert(
    "analytics_daily_visitors",
    ("link_id", "day", "visitor"),
    ("integer[]", "date[]", "text[]"),
    "ON CONFLICT DO NOTHING",
)


def _upsert(table: str, keys: tuple[str, ...], key_types: tuple[str, ...]) -> _Insert:
    """Add the row's (visits, bot_visits) to the row with the same key, or insert it."""
    return _Insert(
        table,
        (*keys, "visits", "bot_visits"),
        (*key_types, "integer[]", "integer[]"),
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "  # nosec B608  # our own column names
        f"visits = {table}.visits + excluded.visits, "
        f"bot_visits = {table}.bot_visits + excluded.bot_visits",
    )


_HOURLY_UPSERT = _upsert(_HOURLY.name, ("link_id", "hour"), ("integer[]", "timestamptz[]"))
_DIMENSIONS_UPSERT = _upsert(
    _DIMENSIONS.name,
    ("link_id", "dimension", "day", "value"),
    ("integer[]", "text[]", "date[]", "text[]"),
)


def bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The whole conversion SQLAlchemy applies to a value bound to ``column``.

    Not ``column.type.bind_processor``: for a ``TypeDecorator`` that is the decorator's own
    step only, without the dialect's (SQLite's ``DATETIME`` formats the text as
    ``2026-05-28 20:00:00.000000``); the driver would then store the aware datetime as
    ``2026-05-28 20:00:00+00:00``, which sorts before the ORM's bound ``20:00:00.000000``, so
    range queries would miss the first hour.
    """
    return column.type.dialect_impl(dialect).bind_processor(dialect)


class _Sql:
    """The batch writes in hand-written SQL for the connection's dialect, sent straight to
    the driver: per-row parameter processing in SQLAlchemy (and per-placeholder parsing in
    psycopg) cost more than the database itself.

    SQLite gets multi-row ``VALUES`` lists; PostgreSQL gets one array per column and
    ``SELECT * FROM unnest(...)``, a statement of constant size whatever the batch size.
    Hours and days go through the full bind processing of their columns for the dialect
    (:func:`bind_processor`), so what is stored is exactly what SQLAlchemy stores and
    compares against.
    """

    def __init__(self, connection: Connection) -> None:
        dialect = connection.dialect
        if dialect.name not in {"sqlite", "postgresql"}:
            raise RuntimeError(f"analytics needs SQLite or PostgreSQL, not {dialect.name}")
        self.connection = connection
        self.postgresql = dialect.name == "postgresql"
        #: PostgreSQL locks rows: concurrent workers must take them in one order (by key)
        #: or deadlock. SQLite has one writer at a time, so sorting would be wasted work.
        self.ordered: Any = sorted if self.postgresql else list
        # Every hour column is a UTCDateTime, every day column a Date (see .models).
        self._hour = bind_processor(_HOURLY.c.hour, dialect)
        self._day = bind_processor(_DIMENSIONS.c.day, dialect)

    def hour(self, value: datetime) -> Any:
        return self._hour(value) if self._hour is not None else value

    def day(self, value: date) -> Any:
        return self._day(value) if self._day is not None else value

    def run(self, insert: _Insert, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Insert ``rows``; the rows the statement returned (if it returns any)."""
        head = f"INSERT INTO {insert.table} ({', '.join(insert.columns)}) "
        if self.postgresql:
            arrays = ", ".join(f"%b::{kind}" for kind in insert.types)
            sql = f"{head}SELECT * FROM unnest({arrays}) {insert.tail}"  # noqa: S608  # nosec B608  # constants; values are bound
            params = tuple(list(column) for column in zip(*rows, strict=True))
            return self._execute(sql, params)
        returned: list[Any] = []
        row = "(" + ", ".join("?" * len(insert.columns)) + ")"
        for chunk in _chunks(rows):
            sql = f"{head}VALUES {', '.join([row] * len(chunk))} {insert.tail}"
            returned += self._execute(sql, tuple(value for item in chunk for value in item))
        return returned

    def _execute(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        result = self.connection.exec_driver_sql(sql, params)
        return list(result.fetchall()) if result.returns_rows else []


def _chunks(rows: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def claim_new(connection: Connection, events: Sequence[Event], now: int) -> list[Event]:
    """Record the events' ids as processed; return the events never processed before."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.id, event)
    sql = _Sql(connection)
    ids = sql.ordered(unique)
    if not ids:
        return []
    returned = sql.run(_CLAIM, [(event_id, now) for event_id in ids])
    new_ids = {row[0] for row in returned}
    return [unique[event_id] for event_id in ids if event_id in new_ids]


def link_ids(connection: Connection, slugs: Iterable[str]) -> dict[str, int]:
    """Slug to link id for the slugs that (still) exist."""
    wanted = sorted(set(slugs))
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        rows = connection.execute(select(Link.slug, Link.id).where(Link.slug.in_(chunk)))
        found.update({row.slug: row.id for row in rows})
    return found


def resolve_links(connection: Connection, events: Sequence[Event]) -> list[int | None]:
    """The id of each event's link, None when that link no longer exists.

    SQLite (``INTEGER PRIMARY KEY`` without ``AUTOINCREMENT``) gives a new link the id of a
    deleted highest one: a click from before the link was created is the deleted link's.
    PostgreSQL's sequences never hand an id out twice.
    """
    born: dict[int, float] = {}
    for chunk in _chunks(sorted({event.link for event in events if event.link is not None})):
        rows = connection.execute(select(Link.id, Link.created_at).where(Link.id.in_(chunk)))
        born.update({row.id: row.created_at.timestamp() for row in rows})
    by_slug = link_ids(connection, (event.slug for event in events if event.link is None))
    reuses_ids = connection.dialect.name == "sqlite"
    found: list[int | None] = []
    for event in events:
        if event.link is None:
            found.append(by_slug.get(event.slug))
            continue
        created = born.get(event.link)
        # Event times have millisecond precision, creation times microseconds.
        stale = created is None or (reuses_ids and event.ts + 0.001 < created)
        found.append(None if stale else event.link)
    return found


def store_events(connection: Connection, events: Sequence[Event], now: float) -> StoreResult:
    """Count the batch's new events into the aggregates (inside the caller's transaction)."""
    result = StoreResult()
    fresh = claim_new(connection, events, int(now))
    result.duplicates = len(events) - len(fresh)
    links = resolve_links(connection, fresh)
    # Keys use hours and days since the epoch; they become datetimes once per value.
    hourly: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    dimensions: dict[tuple[int, str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    visitors: set[tuple[int, int, str]] = set()
    for event, link_id in zip(fresh, links, strict=True):
        if link_id is None:
            result.orphans += 1
            continue
        result.counted += 1
        result.clicks[link_id] = result.clicks.get(link_id, 0) + 1
        bot = 1 if event.bot else 0
        counts = hourly[(link_id, int(event.ts // 3600))]
        counts[0] += 1
        counts[1] += bot
        day = int(event.ts // 86400)
        for dimension, field in DIMENSION_FIELDS:
            counts = dimensions[(link_id, dimension, day, getattr(event, field))]
            counts[0] += 1
            counts[1] += bot
        if event.ip and not event.bot:
            visitors.add((link_id, day, event.ip))
    sql = _Sql(connection)
    hour_numbers = {hour for _, hour in hourly}
    hours = {hour: sql.hour(datetime.fromtimestamp(hour * 3600, UTC)) for hour in hour_numbers}
    day_numbers = {day for _, _, day, _ in dimensions}
    days = {day: sql.day(datetime.fromtimestamp(day * 86400, UTC).date()) for day in day_numbers}
    ordered = sql.ordered
    if hourly:
        sql.run(
            _HOURLY_UPSERT,
            [(link, hours[hour], v, b) for (link, hour), (v, b) in ordered(hourly.items())],
        )
    if dimensions:
        sql.run(
            _DIMENSIONS_UPSERT,
            [
                (link, dimension, days[day], value, v, b)
                for (link, dimension, day, value), (v, b) in ordered(dimensions.items())
            ],
        )
    if visitors:
        sql.run(
            _VISITORS_INSERT,
            [(link, days[day], visitor) for link, day, visitor in ordered(visitors)],
        )
    return result


def make_commit_durable(connection: Connection) -> None:
    """Make this connection's commits survive a power loss before the worker acks them.

    The app runs SQLite with ``synchronous=NORMAL``: in WAL mode a commit then reaches the
    disk only at the next checkpoint, so a power loss can roll back batches the worker had
    already acknowledged - clicks lost for good. ``FULL`` syncs the WAL at every commit.
    Must run before the transaction's first write (``PRAGMA synchronous`` is per connection
    and the driver begins the transaction lazily). PostgreSQL commits durably by default.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA synchronous=FULL")


def purge_processed(connection: Connection, older_than: float) -> int:
    """Forget processed event ids recorded before ``older_than`` (Unix seconds)."""
    result = connection.execute(delete(_PROCESSED).where(_PROCESSED.c.processed_at < older_than))
    return int(result.rowcount or 0)


__all__ = [
    "DIMENSION_FIELDS",
    "Event",
    "StoreResult",
    "bind_processor",
    "claim_new",
    "link_ids",
    "make_commit_durable",
    "parse_event",
    "purge_processed",
    "resolve_links",
    "store_events",
]
