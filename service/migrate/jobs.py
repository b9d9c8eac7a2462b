"""Migrations started from the dashboard, run as jobs by the analytics worker process.

A request never migrates: it checks the form, stores a :class:`~.models.MigrationJob` row
(``queued``) and the peer's credentials in Redis under a TTL (``MIGRATE_SECRET_TTL``,
default a day), and answers. The :class:`JobRunner` thread that ``linkfleet worker`` runs
beside its counting claims a queued job with a conditional ``UPDATE`` (so two workers never
run one job), holds it under a lease it renews after every page, and writes the progress
(position, counts, the report) to the row after every page, which the job's page shows.
A worker that dies or is restarted leaves its job's lease to run out; the next worker takes
the job over from the position the row says (links already imported are skipped anyway).
The credentials are deleted as soon as the job ends; a job whose credentials ran out before
a worker came is stopped with that reason.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from typing import Any

import redis
from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..accounts.models import User
from ..extensions import db
from ..extensions.types import utcnow
from ..links.cache import link_cache
from .models import DONE, QUEUED, RUNNING, STOPPED, MigrationJob
from .peers import Peer
from .runner import MigrationReport, run_migration

logger = logging.getLogger(__name__)

#: Redis key of a job's credentials (``{}`` is the job id).
CREDENTIALS_KEY = "linkfleet:migrate:secret:{}"
DEFAULT_SECRET_TTL = 86400
DEFAULT_POLL_INTERVAL = 2.0
#: A running job stays its worker's this long after its last page.
LEASE = timedelta(seconds=120)
#: The credentials a job may carry, per peer.
SECRET_FIELDS = ("api_key", "signature", "password")


class JobInterrupted(Exception):
    """The worker is stopping: the job goes back to the queue where it was."""


def start_job(
    owner: User,
    peer: str,
    url: str,
    *,
    secrets: dict[str, str],
    username: str = "",
    every_user: bool = False,
    secret_ttl: int = DEFAULT_SECRET_TTL,
) -> MigrationJob:
    """Queue a migration for ``owner``; the credentials wait in Redis, never in the table.
    Raises :class:`redis.RedisError` (and queues nothing) when Redis cannot keep them."""
    job = MigrationJob(
        owner_id=owner.id, peer=peer, url=url, username=username, every_user=every_user
    )
    db.session.add(job)
    db.session.commit()
    kept = {name: value for name, value in secrets.items() if name in SECRET_FIELDS and value}
    try:
        link_cache.redis.set(CREDENTIALS_KEY.format(job.id), json.dumps(kept), ex=secret_ttl)
    except redis.RedisError:
        db.session.delete(job)  # a job without its credentials could never run
        db.session.commit()
        raise
    return job


def jobs_of(owner: User, limit: int = 20) -> list[MigrationJob]:
    statement = (
        select(MigrationJob)
        .where(MigrationJob.owner_id == owner.id)
        .order_by(MigrationJob.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(statement))


def job_of(owner: User, job_id: int) -> MigrationJob | None:
    """The job if it is ``owner``'s (another account's job is reported as no job)."""
    job = db.session.get(MigrationJob, job_id)
    return job if job is not None and job.owner_id == owner.id else None


def report_of(job: MigrationJob) -> MigrationReport:
    if job.report:
        return MigrationReport.from_dict(json.loads(job.report))
    return MigrationReport(peer=job.peer, position=job.position)


class JobRunner:
    """Claims and runs migration jobs of ``app``; :meth:`run_once` is one round (tests)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="migration-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        interval = float(self.app.config.get("MIGRATE_POLL_INTERVAL", DEFAULT_POLL_INTERVAL))
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except SQLAlchemyError as error:
                logger.warning("migrations: database error (%s); retrying", str(error)[:200])
                ran = False
            except Exception:  # the loop must outlive any one bad job
                logger.exception("migrations: unexpected error")
                ran = False
            if not ran:
                self._stop.wait(interval)

    def run_once(self) -> bool:
        """Claim one runnable job and run it to its end; False when there was none."""
        with self.app.app_context():
            try:
                job_id = self._claim()
                if job_id is None:
                    return False
                self._run(job_id)
                return True
            finally:
                db.session.remove()

    def _claim(self) -> int | None:
        now = utcnow()
        runnable = or_(
            MigrationJob.status == QUEUED,
            (MigrationJob.status == RUNNING) & (MigrationJob.lease_until < now),
        )
        for job_id in db.session.scalars(
            select(MigrationJob.id).where(runnable).order_by(MigrationJob.id).limit(5)
        ):
            claimed = db.session.execute(
                update(MigrationJob)
                .where(MigrationJob.id == job_id, runnable)
                .values(status=RUNNING, lease_until=now + LEASE, updated_at=now)
            )
            db.session.commit()
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                return int(job_id)
        return None

    def _run(self, job_id: int) -> None:
        job = db.session.get(MigrationJob, job_id)
        if job is None:  # deleted with its account since the claim
            return
        owner = db.session.get(User, job.owner_id)
        raw = link_cache.redis.get(CREDENTIALS_KEY.format(job_id))
        report = report_of(job)
        if owner is None or raw is None:
            report.stopped = (
                "the peer's credentials expired before a worker could run the job; "
                "start the migration again"
            )
            self._finish(job, report)
            return
        secrets: dict[str, Any] = json.loads(raw)
        peer = Peer(
            job.peer,
            job.url,
            allow_private=bool(self.app.config["WEBHOOKS_ALLOW_PRIVATE"]),
            api_key=secrets.get("api_key", ""),
            signature=secrets.get("signature", ""),
            username=job.username,
            password=secrets.get("password", ""),
            every_user=job.every_user,
        )

        def progress(current: MigrationReport, _count: int) -> None:
            self._save(job, current, RUNNING)
            if self._stop.is_set():
                raise JobInterrupted

        try:
            report = run_migration(
                owner, peer, start=job.position, progress=progress, report=report
            )
        except JobInterrupted:
            job.status, job.lease_until = QUEUED, None  # the next worker goes on from here
            db.session.commit()
            return
        self._finish(job, report)

    def _save(self, job: MigrationJob, report: MigrationReport, status: str) -> None:
        job.status = status
        job.position = report.position
        job.total = report.total
        job.imported, job.skipped = report.imported, report.skipped
        job.conflicts, job.failed = report.conflict_count, report.failed_count
        job.report = json.dumps(report.as_dict())
        job.updated_at = utcnow()
        job.lease_until = job.updated_at + LEASE if status == RUNNING else None
        db.session.commit()

    def _finish(self, job: MigrationJob, report: MigrationReport) -> None:
        """Record the end and drop the credentials: the job needs them no longer."""
        self._save(job, report, DONE if report.complete else STOPPED)
        link_cache.redis.delete(CREDENTIALS_KEY.format(job.id))


__all__ = ["JobRunner", "job_of", "jobs_of", "report_of", "start_job"]
