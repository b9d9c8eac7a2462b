"""Statistics queries: a link's visits over time, its top referrers/browsers/OS/devices/
countries, unique visitors, and the same for all of a user's links (the overview).

Entry points (the API's ``GET /api/v1/links/<slug>/stats`` and the dashboard call these):

* :func:`stats_range` - parse and check ``from`` / ``to`` / ``granularity`` (strings from a
  query string, datetimes, or None for the defaults); raises :class:`StatsQueryError`;
* :func:`link_stats` - one link, as a JSON-ready dict;
* :func:`account_overview` - every link the user may see (admins: all links).

Resolution: the time series has the resolution of the hourly aggregates; the top lists and
unique visitors are kept per UTC day and cover every UTC day the range touches. Queries run
on a read replica when there are any (``run_read``: a moment of lag is fine for stats). Unique
visitors are exact per day and summed over the days (the visitor hash's salt changes daily,
on purpose, so one visitor on two days counts twice); visitors who sent ``DNT``/``Sec-GPC``
and bots are not in it. ``visits`` always counts everything, ``humans`` + ``bots`` = ``visits``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from ..extensions.database import run_read
from ..links.models import Link
from .models import DailyDimension, DailyVisitor, HourlyVisits

if TYPE_CHECKING:
    from ..accounts.models import User

GRANULARITIES = ("hour", "day")
#: The longest range a query may cover, and the longest with hourly points.
MAX_RANGE_DAYS = 366
MAX_HOURLY_DAYS = 31
#: Without ``from`` and ``to``: the last seven days.
DEFAULT_RANGE_DAYS = 7
#: Ranges up to this long default to hourly points.
AUTO_HOURLY_SPAN = timedelta(days=2)
#: The "top" lists: key in the result -> dimension in :class:`DailyDimension`.
TOP_LISTS = (
    ("referrers", "referrer"),
    ("browsers", "browser"),
    ("os", "os"),
    ("devices", "device"),
    ("countries", "country"),
)
DEFAULT_TOP = 10
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


class StatsQueryError(ValueError):
    """Bad ``from`` / ``to`` / ``granularity``; ``errors`` maps each field to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class StatsRange:
    """A half-open UTC range [start, end) cut into ``granularity`` buckets."""

    start: datetime
    end: datetime
    granularity: str

    @property
    def step(self) -> timedelta:
        return _HOUR if self.granularity == "hour" else _DAY

    def buckets(self) -> list[datetime]:
        """The start of every bucket in the range."""
        points, moment = [], self.start
        while moment < self.end:
            points.append(moment)
            moment += self.step
        return points

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()

    def bucket_of(self, hour: datetime) -> datetime:
        if self.granularity == "hour":
            return hour
        return hour.replace(hour=0, minute=0, second=0, microsecond=0)


def _floor(moment: datetime, step: timedelta) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if step == _DAY else moment


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floored = _floor(moment, step)
    return floored if floored == moment else floored + step


#: Moments a query may name; beyond them date arithmetic would overflow (year 1 or 9999).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _parse_moment(value: datetime | date | str, field: str, *, is_end: bool) -> datetime:
    """A UTC datetime from a datetime, a date, or ISO 8601 text (naive means UTC), between
    :data:`EARLIEST` and :data:`LATEST`.

    A bare date as ``to`` means the end of that day: ``to=2026-05-31`` includes May 31.
    """
    try:
        moment = _read_moment(value, field, is_end=is_end)
    except OverflowError:
        moment = LATEST + _DAY  # refused below, like any other moment out of range
    if not EARLIEST <= moment <= LATEST:
        raise StatsQueryError({field: f"Use a moment between {EARLIEST.year} and {LATEST.year}."})
    return moment


def _read_moment(value: datetime | date | str, field: str, *, is_end: bool) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day) + (_DAY if is_end else timedelta())
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                return datetime(day.year, day.month, day.day, tzinfo=UTC) + (
                    _DAY if is_end else timedelta()
                )
            moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise StatsQueryError(
                {field: "Use a date (2026-05-31) or an ISO 8601 date and time."}
            ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stats_range(
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    granularity: str | None = None,
    *,
    now: datetime | None = None,
) -> StatsRange:
    """The checked range of a stats query; empty values take the defaults.

    Defaults: ``to`` now, ``from`` seven days before ``to``, granularity ``hour`` for ranges
    up to two days and ``day`` beyond. The range is widened to whole buckets.
    """
    errors: dict[str, str] = {}
    parsed: dict[str, datetime] = {}
    for field, value in (("from", start), ("to", end)):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            parsed[field] = _parse_moment(value, field, is_end=field == "to")
        except StatsQueryError as error:
            errors.update(error.errors)
    wanted = (granularity or "").strip().lower() or None
    if wanted is not None and wanted not in GRANULARITIES:
        errors["granularity"] = "Choose hour or day."
    if errors:
        raise StatsQueryError(errors)
    current = (now or datetime.now(UTC)).astimezone(UTC)
    stop = parsed.get("to") or _ceil(current, _HOUR)
    begin = parsed.get("from") or stop - timedelta(days=DEFAULT_RANGE_DAYS)
    if begin >= stop:
        raise StatsQueryError({"from": "The start must be before the end."})
    if stop - begin > timedelta(days=MAX_RANGE_DAYS):
        raise StatsQueryError({"from": f"Ask for at most {MAX_RANGE_DAYS} days at a time."})
    chosen = wanted or ("hour" if stop - begin <= AUTO_HOURLY_SPAN else "day")
    step = _HOUR if chosen == "hour" else _DAY
    begin, stop = _floor(begin, step), _ceil(stop, step)
    if chosen == "hour" and stop - begin > timedelta(days=MAX_HOURLY_DAYS):
        raise StatsQueryError(
            {"granularity": f"Hourly points cover at most {MAX_HOURLY_DAYS} days; use day."}
        )
    return StatsRange(begin, stop, chosen)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _counts(visits: int, bots: int) -> dict[str, int]:
    return {"visits": visits, "humans": visits - bots, "bots": bots}


def _series(session: Session, links: ColumnElement[bool], span: StatsRange) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            HourlyVisits.hour,
            func.sum(HourlyVisits.visits),
            func.sum(HourlyVisits.bot_visits),
        )
        .where(links, HourlyVisits.hour >= span.start, HourlyVisits.hour < span.end)
        .group_by(HourlyVisits.hour)
    )
    sums: dict[datetime, list[int]] = {point: [0, 0] for point in span.buckets()}
    for hour, visits, bots in rows:
        bucket = sums.get(span.bucket_of(hour))
        if bucket is not None:
            bucket[0] += int(visits or 0)
            bucket[1] += int(bots or 0)
    return [{"start": _iso(point), **_counts(*sums[point])} for point in sorted(sums)]


def _top(
    session: Session, links: ColumnElement[bool], dimension: str, span: StatsRange, limit: int
) -> list[dict[str, Any]]:
    visits = func.sum(DailyDimension.visits)
    bots = func.sum(DailyDimension.bot_visits)
    rows = session.execute(
        select(DailyDimension.value, visits, bots)
        .where(
            links,
            DailyDimension.dimension == dimension,
            DailyDimension.day >= span.first_day,
            DailyDimension.day <= span.last_day,
        )
        .group_by(DailyDimension.value)
        .order_by((visits - bots).desc(), visits.desc(), DailyDimension.value)
        .limit(limit)
    )
    return [{"value": value, **_counts(int(v or 0), int(b or 0))} for value, v, b in rows]


def _unique_visitors(
    session: Session, links: ColumnElement[bool], span: StatsRange, *, per_link: bool
) -> int:
    """Distinct visitor hashes per day (and per link, for a link), summed over the days."""
    columns: Sequence[Any] = (
        (DailyVisitor.link_id, DailyVisitor.day, DailyVisitor.visitor)
        if per_link
        else (DailyVisitor.day, DailyVisitor.visitor)
    )
    distinct = (
        select(*columns)
        .where(links, DailyVisitor.day >= span.first_day, DailyVisitor.day <= span.last_day)
        .distinct()
        .subquery()
    )
    return int(session.scalar(select(func.count()).select_from(distinct)) or 0)


def _report(
    session: Session,
    links_hourly: ColumnElement[bool],
    links_daily: ColumnElement[bool],
    links_visitors: ColumnElement[bool],
    span: StatsRange,
    top: int,
    *,
    per_link: bool,
) -> dict[str, Any]:
    series = _series(session, links_hourly, span)
    visits = sum(point["visits"] for point in series)
    bots = sum(point["bots"] for point in series)
    return {
        "from": _iso(span.start),
        "to": _iso(span.end),
        "granularity": span.granularity,
        "totals": {
            **_counts(visits, bots),
            "unique_visitors": _unique_visitors(session, links_visitors, span, per_link=per_link),
        },
        "series": series,
        "top": {
            key: _top(session, links_daily, dimension, span, top) for key, dimension in TOP_LISTS
        },
    }


def link_stats(
    link: Link,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    granularity: str | None = None,
    *,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """The statistics of ``link`` between ``start`` and ``end`` (see :func:`stats_range`).

    Returns a JSON-ready dict::

        {"slug", "from", "to", "granularity",
         "totals": {"visits", "humans", "bots", "unique_visitors"},
         "series": [{"start", "visits", "humans", "bots"}, ...],   # every bucket, zeros too
         "top": {"referrers" | "browsers" | "os" | "devices" | "countries":
                 [{"value", "visits", "humans", "bots"}, ...]}}    # most humans first

    ``value`` is ``""`` for "none or not recorded" (a direct visit, privacy settings, DNT).
    Raises :class:`StatsQueryError` for a bad range. Authorization is the caller's
    (``get_link_for(user, slug)``).
    """
    span = stats_range(start, end, granularity)
    link_id, slug = link.id, link.slug
    report = run_read(
        lambda session: _report(
            session,
            HourlyVisits.link_id == link_id,
            DailyDimension.link_id == link_id,
            DailyVisitor.link_id == link_id,
            span,
            top,
            per_link=True,
        )
    )
    return {"slug": slug, **report}


def _visible_ids(user_id: int, is_admin: bool) -> Select[Any]:
    query = select(Link.id)
    if not is_admin:
        query = query.where(Link.owner_id == user_id)
    return query


def account_overview(
    user: User,
    start: datetime | date | str | None = None,
    end: datetime | date | str | None = None,
    granularity: str | None = None,
    *,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """:func:`link_stats` over every link ``user`` may see (their own; admins: all), plus
    ``top["links"]`` (``[{"slug", "title", "visits", "humans", "bots"}]``) and
    ``totals["links"]`` (links with at least one visit in the range). Unique visitors are
    distinct per day across the links."""
    span = stats_range(start, end, granularity)
    ids = _visible_ids(user.id, bool(user.is_admin)).scalar_subquery()
    return run_read(lambda session: _overview(session, ids, span, top))


def _overview(session: Session, ids: Any, span: StatsRange, top: int) -> dict[str, Any]:
    report = _report(
        session,
        HourlyVisits.link_id.in_(ids),
        DailyDimension.link_id.in_(ids),
        DailyVisitor.link_id.in_(ids),
        span,
        top,
        per_link=False,
    )
    visits = func.sum(HourlyVisits.visits)
    bots = func.sum(HourlyVisits.bot_visits)
    per_link = (
        select(Link.slug, Link.title, visits, bots)
        .join(HourlyVisits, HourlyVisits.link_id == Link.id)
        .where(
            HourlyVisits.link_id.in_(ids),
            HourlyVisits.hour >= span.start,
            HourlyVisits.hour < span.end,
        )
        .group_by(Link.id, Link.slug, Link.title)
    )
    rows = session.execute(per_link.order_by((visits - bots).desc(), visits.desc(), Link.slug))
    links = [
        {"slug": slug, "title": title, **_counts(int(v or 0), int(b or 0))}
        for slug, title, v, b in rows
    ]
    report["totals"]["links"] = len(links)
    report["top"]["links"] = links[:top]
    return report


__all__ = [
    "GRANULARITIES",
    "StatsQueryError",
    "StatsRange",
    "account_overview",
    "link_stats",
    "stats_range",
]
