"""A migration started from the dashboard: one row per job, its progress and its report.

The peer's credentials are never in this table: they wait in Redis (:mod:`.jobs`) for as
long as the job needs them and are deleted when it ends.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..extensions.types import UTCDateTime, utcnow

#: A job's states: waiting for a worker, being run, finished, or ended early.
QUEUED, RUNNING, DONE, STOPPED = "queued", "running", "done", "stopped"
STATES = (QUEUED, RUNNING, DONE, STOPPED)


class MigrationJob(db.Model):  # type: ignore[name-defined, misc]
    """A ``linkfleet migrate`` run for one account, run by the analytics worker."""

    __tablename__ = "migration_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'stopped')", name="status"),
        Index("ix_migration_jobs_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    peer: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2048))
    #: Who authenticates at the peer, when that is no secret (a YOURLS username).
    username: Mapped[str] = mapped_column(String(200), default="")
    every_user: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    #: A running job belongs to its worker until then; a later worker takes over after.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: How many of the peer's links were read (where a taken-over job starts again).
    position: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    conflicts: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: The last report (:meth:`~.runner.MigrationReport.as_dict`) as JSON text.
    report: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
