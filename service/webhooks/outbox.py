"""Enqueueing: an event becomes one pending delivery per subscribed endpoint.

Link events are enqueued by receivers of the link signals (:func:`connect_signals`), in the
request that made the change but in a transaction of their own, right after the change's
commit (the signals only announce committed changes); nothing is sent here. Clicks arrive
from the worker in per-link counts and are enqueued once per window (:class:`ClickWindow`).
The payloads never carry a client address: link fields, slugs and counts only.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import SQLAlchemyError

from .. import signals
from ..extensions import db
from ..extensions.types import utcnow
from ..links.models import Link
from .models import PENDING, PING, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

_DELIVERIES = WebhookDelivery.__table__


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def envelope(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """What every delivery's body is: ``{id, type, created_at, data}``."""
    return {
        "id": new_event_id(),
        "type": event,
        "created_at": utcnow().isoformat(),
        "data": dict(data),
    }


def subscribers(
    connection: Connection, owner_ids: Iterable[int], event: str
) -> dict[int, list[int]]:
    """The enabled endpoints of each owner that subscribed to ``event``: one query, so a
    write by an account without webhooks costs no more than that."""
    owners = set(owner_ids)
    if not owners:
        return {}
    rows = connection.execute(
        select(WebhookEndpoint.owner_id, WebhookEndpoint.id, WebhookEndpoint.events)
        .where(WebhookEndpoint.owner_id.in_(owners), WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
    found: dict[int, list[int]] = {}
    for owner_id, endpoint_id, events in rows:
        if event in events.split():
            found.setdefault(owner_id, []).append(endpoint_id)
    return found


def enqueue(
    connection: Connection, endpoint_ids: Sequence[int], event: str, data: Mapping[str, Any]
) -> int:
    """One pending delivery of the same event for each endpoint; returns how many."""
    if not endpoint_ids:
        return 0
    body = envelope(event, data)
    now = utcnow()
    connection.execute(
        insert(_DELIVERIES),
        [
            {
                "endpoint_id": endpoint_id,
                "event": event,
                "event_id": body["id"],
                "payload": json.dumps(body, separators=(",", ":")),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "error": "",
                "created_at": now,
            }
            for endpoint_id in endpoint_ids
        ],
    )
    return len(endpoint_ids)


def enqueue_ping(endpoint: WebhookEndpoint) -> None:
    """A ``ping`` for one endpoint (its owner's "send a test"), whatever it subscribed to."""
    body = envelope(PING, {"endpoint_id": endpoint.id})
    db.session.add(
        WebhookDelivery(
            endpoint_id=endpoint.id,
            event=PING,
            event_id=body["id"],
            payload=json.dumps(body, separators=(",", ":")),
        )
    )
    db.session.commit()


def link_data(link: Link) -> dict[str, Any]:
    """The link as the API shows it (one shape for both)."""
    from ..api.presenters import present_one
    from ..api.schemas import LinkSchema

    return LinkSchema().dump(present_one(link))  # type: ignore[no-any-return]


# -- signal receivers ---------------------------------------------------------------------------


def _announce(owner_id: int, event: str, data: Callable[[], Mapping[str, Any]]) -> None:
    """Enqueue ``event`` for the owner's subscribers; ``data`` is only built if there are any.

    The change is already committed: a database error here is logged, not raised, so that
    the request does not fail (and get retried) for a write that happened.
    """
    try:
        with db.engine.begin() as connection:
            endpoint_ids = subscribers(connection, [owner_id], event).get(owner_id)
            if endpoint_ids:
                enqueue(connection, endpoint_ids, event, data())
    except SQLAlchemyError:
        logger.exception("webhooks: could not enqueue %s for account %d", event, owner_id)


def _on_created(sender: Flask, **kwargs: Any) -> None:
    link: Link = kwargs["link"]
    _announce(link.owner_id, "link.created", lambda: {"link": link_data(link)})


def _on_updated(sender: Flask, **kwargs: Any) -> None:
    link: Link = kwargs["link"]
    previous_slug = kwargs["slug"]
    _announce(
        link.owner_id,
        "link.updated",
        lambda: {"link": link_data(link), "previous_slug": previous_slug},
    )


def _on_deleted(sender: Flask, **kwargs: Any) -> None:
    owner_id = kwargs.get("owner_id")
    if owner_id is not None:
        _announce(owner_id, "link.deleted", lambda: {"slug": kwargs["slug"]})


def _on_written(sender: Flask, **kwargs: Any) -> None:
    """An import's batch: one event per link, as if each had been written alone (errors
    logged as in :func:`_announce`)."""
    for event, slugs in (("link.created", kwargs["created"]), ("link.updated", kwargs["updated"])):
        if slugs:
            try:
                _announce_batch(event, slugs)
            except SQLAlchemyError:
                logger.exception("webhooks: could not enqueue %s for an import", event)


def _announce_batch(event: str, slugs: Sequence[str]) -> None:
    """Links are only loaded for owners with a subscriber: otherwise one query per batch."""
    with db.engine.begin() as connection:
        owners = connection.scalars(
            select(Link.owner_id).where(Link.slug.in_(slugs)).distinct()
        ).all()
        by_owner = subscribers(connection, owners, event)
        if not by_owner:
            return
        links = db.session.scalars(
            select(Link).where(Link.slug.in_(slugs), Link.owner_id.in_(list(by_owner)))
        ).all()
        for link in links:
            enqueue(connection, by_owner[link.owner_id], event, {"link": link_data(link)})


def connect_signals(app: Flask) -> None:
    """Enqueue on every committed link change of ``app``."""
    signals.link_created.connect(_on_created, sender=app)
    signals.link_updated.connect(_on_updated, sender=app)
    signals.link_deleted.connect(_on_deleted, sender=app)
    signals.links_written.connect(_on_written, sender=app)


# -- clicks ---------------------------------------------------------------------------------------


class ClickWindow:
    """Per-link click counts of the worker, enqueued as ``link.clicked`` once per window.

    The worker adds the counts of each committed batch (:meth:`add`); :meth:`flush_due`
    enqueues one event per owner (and so per endpoint) with every link clicked in the window.
    Counts not yet flushed when the worker process dies are not announced (the statistics,
    which the worker already committed, are unaffected).
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._counts: Counter[int] = Counter()
        self._opened = time.time()

    @property
    def seconds(self) -> float:
        return float(self.app.config["WEBHOOKS_CLICK_WINDOW"])

    def add(self, clicks: Mapping[int, int]) -> None:
        with self._lock:
            self._counts.update(clicks)

    def flush_due(self, *, force: bool = False) -> int:
        """Enqueue the window when it is over (or ``force``); returns deliveries enqueued."""
        now = time.time()
        with self._lock:
            if not force and now - self._opened < self.seconds:
                return 0
            counts, self._counts = self._counts, Counter()
            opened, self._opened = self._opened, now
        if not counts:
            return 0
        return self._enqueue(counts, opened, now)

    def _enqueue(self, counts: Mapping[int, int], opened: float, closed: float) -> int:
        window = {
            "window_start": datetime.fromtimestamp(opened, UTC).isoformat(),
            "window_end": datetime.fromtimestamp(closed, UTC).isoformat(),
        }
        enqueued = 0
        with self.app.app_context(), db.engine.begin() as connection:
            rows = connection.execute(
                select(Link.id, Link.slug, Link.owner_id).where(Link.id.in_(list(counts)))
            ).all()
            by_owner: dict[int, list[dict[str, Any]]] = {}
            for link_id, slug, owner_id in sorted(rows):
                by_owner.setdefault(owner_id, []).append({"slug": slug, "clicks": counts[link_id]})
            wanted = subscribers(connection, by_owner, "link.clicked")
            for owner_id, endpoint_ids in wanted.items():
                data = {**window, "links": by_owner[owner_id]}
                enqueued += enqueue(connection, endpoint_ids, "link.clicked", data)
        return enqueued
