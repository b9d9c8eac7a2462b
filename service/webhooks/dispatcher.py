"""The delivery loop the analytics worker runs beside its counting (a thread of its own).

Each round claims due deliveries (a conditional ``UPDATE`` moves their ``next_attempt_at``
past the attempt, so two workers never send the same one at once), sends them
(:mod:`.sender`) and records the outcome: delivered; or, after a failure, another attempt
after ``WEBHOOKS_BACKOFF_BASE * 2**(attempts-1)`` seconds (capped at ``WEBHOOKS_BACKOFF_MAX``,
with full jitter down to half), until ``WEBHOOKS_MAX_ATTEMPTS``. ``WEBHOOKS_DISABLE_AFTER``
failed attempts in a row disable the endpoint. The click window is flushed and the log
trimmed to ``WEBHOOKS_LOG_RETENTION_DAYS`` from here too.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..extensions.types import utcnow
from .models import DELIVERED, FAILED, PENDING, WebhookDelivery, WebhookEndpoint
from .outbox import ClickWindow
from .sender import Outcome, send

logger = logging.getLogger(__name__)

#: Deliveries claimed per round.
_BATCH = 50
#: How long a claimed delivery stays invisible to other workers (longer than an attempt).
_LEASE = timedelta(seconds=60)


def backoff_seconds(config: Any, attempts: int) -> float:
    """The wait before attempt ``attempts + 1``: exponential, capped, jittered."""
    base = float(config["WEBHOOKS_BACKOFF_BASE"])
    ceiling = min(float(config["WEBHOOKS_BACKOFF_MAX"]), base * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # nosec B311  # jitter, not crypto


class Dispatcher:
    """Sends due deliveries of ``app``; :meth:`run_once` is one round (tests call it)."""

    def __init__(self, app: Flask, clicks: ClickWindow | None = None) -> None:
        self.app = app
        self.clicks = clicks or ClickWindow(app)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_purge = datetime.min.replace(tzinfo=utcnow().tzinfo)

    # -- the loop ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        interval = float(self.app.config["WEBHOOKS_POLL_INTERVAL"])
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except SQLAlchemyError as error:
                logger.warning("webhooks: database error (%s); retrying", str(error)[:200])
                sent = 0
            except Exception:  # the loop must outlive any one bad round
                logger.exception("webhooks: delivery round failed; retrying")
                sent = 0
            if not sent:
                self._stop.wait(interval)
        self.clicks.flush_due(force=True)

    def run_once(self) -> int:
        """Flush the click window if due, purge if due, send what is due; attempts made."""
        self.clicks.flush_due()
        with self.app.app_context():
            try:
                self._purge_if_due()
                return sum(self._attempt(delivery_id) for delivery_id in self._claim())
            finally:
                db.session.remove()

    # -- claiming --------------------------------------------------------------------------------

    def _claim(self) -> list[int]:
        now = utcnow()
        due = db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(_BATCH)
        ).all()
        db.session.rollback()
        claimed = []
        for delivery_id, due_at in due:
            with db.engine.begin() as connection:
                taken = connection.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery_id,
                        WebhookDelivery.status == PENDING,
                        WebhookDelivery.next_attempt_at == due_at,
                    )
                    .values(next_attempt_at=now + _LEASE)
                ).rowcount
            if taken:
                claimed.append(delivery_id)
        return claimed

    # -- one attempt -----------------------------------------------------------------------------

    def _attempt(self, delivery_id: int) -> int:
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return 0
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return 0
        config = self.app.config
        outcome = send(
            endpoint.url,
            secret=endpoint.secret,
            event=delivery.event,
            event_id=delivery.event_id,
            body=delivery.payload.encode(),
            timeout=float(config["WEBHOOKS_TIMEOUT"]),
            allow_private=bool(config["WEBHOOKS_ALLOW_PRIVATE"]),
        )
        self._record(delivery, endpoint, outcome)
        db.session.commit()
        return 1

    def _record(
        self, delivery: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome
    ) -> None:
        config = self.app.config
        now = utcnow()
        delivery.attempts += 1
        delivery.response_code = outcome.status
        delivery.duration_ms = outcome.duration_ms
        delivery.error = outcome.error
        if outcome.ok:
            delivery.status = DELIVERED
            delivery.finished_at = now
            endpoint.consecutive_failures = 0
            return
        endpoint.consecutive_failures += 1
        if delivery.attempts >= int(config["WEBHOOKS_MAX_ATTEMPTS"]):
            delivery.status = FAILED
            delivery.finished_at = now
        else:
            wait = backoff_seconds(config, delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        if endpoint.consecutive_failures >= int(config["WEBHOOKS_DISABLE_AFTER"]):
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"Disabled after {endpoint.consecutive_failures} failed attempts in a row "
                f"(last: {outcome.error or outcome.status})"
            )[:200]
            logger.warning("webhooks: endpoint %d disabled: %s", endpoint.id, outcome.error)

    # -- retention -------------------------------------------------------------------------------

    def _purge_if_due(self) -> None:
        now = utcnow()
        if now < self._next_purge:
            return
        self._next_purge = now + timedelta(minutes=10)
        self.purge(now)

    def purge(self, now: datetime | None = None) -> int:
        """Forget finished deliveries older than the retention; returns how many."""
        days = float(self.app.config["WEBHOOKS_LOG_RETENTION_DAYS"])
        cutoff = (now or utcnow()) - timedelta(days=days)
        with self.app.app_context(), db.engine.begin() as connection:
            return int(
                connection.execute(
                    delete(WebhookDelivery).where(
                        WebhookDelivery.status != PENDING, WebhookDelivery.created_at < cutoff
                    )
                ).rowcount
            )
