"""Erasing counted visits (Shlink's "delete visits"): a link's hourly counts, daily
dimensions and daily visitor hashes (the link, and its visit limit's counter, stay), and
the orphan visits' hourly counts."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from ..extensions import db
from .models import DailyDimension, DailyVisitor, HourlyVisits, OrphanHourly


def erase_link_visits(link_id: int) -> int:
    """Delete every aggregate of link ``link_id`` and commit; returns the visits they held."""
    counted = db.session.scalar(
        select(func.coalesce(func.sum(HourlyVisits.visits), 0)).where(
            HourlyVisits.link_id == link_id
        )
    )
    for model in (HourlyVisits, DailyDimension, DailyVisitor):
        db.session.execute(delete(model).where(model.link_id == link_id))
    db.session.commit()
    return int(counted or 0)


def erase_orphan_visits() -> int:
    """Delete every orphan visit's hourly count and commit; returns the visits they held."""
    counted = db.session.scalar(select(func.coalesce(func.sum(OrphanHourly.visits), 0)))
    db.session.execute(delete(OrphanHourly))
    db.session.commit()
    return int(counted or 0)
