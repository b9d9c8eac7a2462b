"""Analytics tables: aggregates the worker maintains, and the ids it has already counted.

Nothing here stores a raw click: the worker folds each event into

* :class:`HourlyVisits` - visits and bot visits per link per UTC hour (the time series);
* :class:`DailyDimension` - visits per link per UTC day per value of one dimension
  (referrer host, browser, OS, device, country), for the "top" lists;
* :class:`DailyVisitor` - the distinct visitor hashes per link per UTC day (unique visitors,
  exact per day; the hash's salt rotates daily, so a visitor cannot be followed across days);
* :class:`OrphanHourly` - visits to no link (unknown or unservable slugs, other 404s) per
  UTC hour, type, host and referrer host, with a cap on referrer hosts per hour
  (:mod:`.orphans`): a flood adds bounded rows, never a row per request;
* :class:`ProcessedEvent` - the ids of counted events, which makes counting idempotent: a
  redelivered or replayed event finds its id here and is skipped. Purged after a retention
  period (``ANALYTICS_PROCESSED_RETENTION_DAYS``), far longer than any redelivery window.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..extensions.types import UTCDateTime

#: The dimensions of :class:`DailyDimension`, in the order the pages show them.
DIMENSIONS = ("referrer", "browser", "os", "device", "country")
#: Longest dimension value kept (referrer hosts are at most 253 characters anyway).
MAX_VALUE_LENGTH = 255


class ProcessedEvent(db.Model):  # type: ignore[name-defined, misc]
    """An event the worker has counted; ``processed_at`` is Unix seconds (for the purge)."""

    __tablename__ = "analytics_processed_events"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    processed_at: Mapped[int] = mapped_column(BigInteger, index=True)


class HourlyVisits(db.Model):  # type: ignore[name-defined, misc]
    """Visits of one link in one UTC hour; ``visits`` includes ``bot_visits``."""

    __tablename__ = "analytics_hourly"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    bot_visits: Mapped[int] = mapped_column(Integer, default=0)


class DailyDimension(db.Model):  # type: ignore[name-defined, misc]
    """Visits of one link on one UTC day with one value of a dimension.

    ``value`` is ``""`` when nothing was recorded (no referrer, capture turned off, DNT).
    """

    __tablename__ = "analytics_daily_dimensions"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(String(MAX_VALUE_LENGTH), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    bot_visits: Mapped[int] = mapped_column(Integer, default=0)


class DailyVisitor(db.Model):  # type: ignore[name-defined, misc]
    """One (human) visitor hash seen on one link on one UTC day."""

    __tablename__ = "analytics_daily_visitors"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    visitor: Mapped[str] = mapped_column(String(32), primary_key=True)


class OrphanHourly(db.Model):  # type: ignore[name-defined, misc]
    """Orphan visits (:mod:`.orphans`) in one UTC hour of one type, host and referrer host;
    ``visits`` includes ``bot_visits``. ``referrer_host`` is ``""`` for none and
    ``"other"`` beyond the hour's cap of distinct referrer hosts (the same for ``host``)."""

    __tablename__ = "analytics_orphan_hourly"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    host: Mapped[str] = mapped_column(String(MAX_VALUE_LENGTH), primary_key=True)
    referrer_host: Mapped[str] = mapped_column(String(MAX_VALUE_LENGTH), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    bot_visits: Mapped[int] = mapped_column(Integer, default=0)


__all__ = [
    "DIMENSIONS",
    "DailyDimension",
    "DailyVisitor",
    "HourlyVisits",
    "OrphanHourly",
    "ProcessedEvent",
]
