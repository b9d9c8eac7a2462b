"""Webhook endpoints and their deliveries (the outbox and the delivery log in one table).

A delivery row is written when an event happens (``status='pending'``), claimed and sent by
the worker, and then kept as the log entry (``delivered`` or ``failed``) until the retention
(``WEBHOOKS_LOG_RETENTION_DAYS``) removes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..extensions.types import UTCDateTime, utcnow

#: What an endpoint may subscribe to; ``ping`` is sent on request only, to every endpoint.
EVENTS = ("link.created", "link.updated", "link.deleted", "link.clicked")
PING = "ping"
#: States of a delivery.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class WebhookEndpoint(db.Model):  # type: ignore[name-defined, misc]
    """An account's receiver. ``secret`` is kept as is: every delivery is signed with it."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    #: Space-separated names from :data:`EVENTS`.
    events: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    #: Why the worker disabled it (empty when enabled, or disabled by its owner).
    disabled_reason: Mapped[str] = mapped_column(String(200), default="")
    #: Failed attempts in a row; reaching ``WEBHOOKS_DISABLE_AFTER`` disables the endpoint.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def event_list(self) -> list[str]:
        return self.events.split()

    def wants(self, event: str) -> bool:
        return event in self.event_list


class WebhookDelivery(db.Model):  # type: ignore[name-defined, misc]
    """One event for one endpoint: its payload, its attempts and how the last one went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    #: The event's id, the same in every attempt (receivers de-duplicate on it).
    event_id: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
