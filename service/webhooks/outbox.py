"""Enqueueing: an event becomes one pending delivery per subscribed endpoint.

Link events are written in the transaction of the link change itself (the outbox pattern):
the link services stage each change (:func:`link_created`, :func:`link_updated`,
:func:`link_deleted`, :func:`links_written`) in the session, and a ``before_commit`` session
event (:func:`connect_session_events`) writes their deliveries just before that transaction
commits. So a delivery row exists if and only if its change committed: a change refused by
validation stages nothing, a rolled-back one forgets what it staged, and no crash can fall
between the change and its event. Nothing is sent here. Clicks arrive from the worker in
per-link counts and are enqueued once per window (:class:`ClickWindow`). The payloads never
carry a client address: link fields, slugs and counts only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import Connection, insert, select
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.orm import Session, SessionTransaction

from ..extensions import db
from ..extensions.types import utcnow
from ..links.models import Link
from .models import PENDING, PING, WebhookDelivery, WebhookEndpoint

_DELIVERIES = WebhookDelivery.__table__
#: Key in ``Session.info`` of the link events staged in the session's transaction.
_STAGED = "linkfleet.webhooks.staged"


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


# -- link events, in the change's own transaction -------------------------------------------


@dataclass(frozen=True)
class _LinkEvent:
    """A link change the link services made in the session's current transaction.

    ``link`` is the changed link (created or updated; read when the event is written, after
    the flush that gives a new link its id); ``data`` is a deleted link's payload."""

    event: str
    owner_id: int | None = None
    link: Link | None = None
    previous_slug: str | None = None
    data: Mapping[str, Any] | None = None

    def payload(self) -> Mapping[str, Any]:
        """What the event's ``data`` is: the one place that decides it."""
        if self.link is None:  # a deleted link: its payload was taken before the delete
            return self.data or {}
        if self.event == "link.updated":
            return {"link": link_data(self.link), "previous_slug": self.previous_slug}
        return {"link": link_data(self.link)}

    def write(self, session: Session, connection: Connection) -> None:
        owner_id = self.link.owner_id if self.link is not None else self.owner_id
        if owner_id is None:
            return
        endpoint_ids = subscribers(connection, [owner_id], self.event).get(owner_id)
        if endpoint_ids:
            enqueue(connection, endpoint_ids, self.event, self.payload())


@dataclass(frozen=True)
class _BatchEvent:
    """An import's links, one event each as if each had been written alone; the links are
    only loaded for owners with a subscriber (otherwise one query per batch)."""

    event: str
    slugs: Sequence[str]

    def write(self, session: Session, connection: Connection) -> None:
        owners = session.scalars(
            select(Link.owner_id).where(Link.slug.in_(self.slugs)).distinct()
        ).all()
        by_owner = subscribers(connection, owners, self.event)
        if not by_owner:
            return
        links = session.scalars(
            select(Link).where(Link.slug.in_(self.slugs), Link.owner_id.in_(list(by_owner)))
        ).all()
        for link in links:
            _LinkEvent(self.event, link=link).write(session, connection)


def _stage(item: _LinkEvent | _BatchEvent) -> None:
    db.session.info.setdefault(_STAGED, []).append(item)


def link_created(link: Link) -> None:
    """``link.created`` for ``link``, written with the transaction that adds it."""
    _stage(_LinkEvent("link.created", link=link))


def link_updated(link: Link, previous_slug: str) -> None:
    """``link.updated`` for ``link`` (``previous_slug``: its slug before the change)."""
    _stage(_LinkEvent("link.updated", link=link, previous_slug=previous_slug))


def link_deleted(slug: str, owner_id: int) -> None:
    """``link.deleted`` for the link ``slug`` of ``owner_id``."""
    _stage(_LinkEvent("link.deleted", owner_id=owner_id, data={"slug": slug}))


def links_written(created: Sequence[str], updated: Sequence[str]) -> None:
    """An import's ``link.created`` and ``link.updated``, one per link."""
    for event, slugs in (("link.created", created), ("link.updated", updated)):
        if slugs:
            _stage(_BatchEvent(event, list(slugs)))


def _write_staged(session: Session) -> None:
    """``before_commit``: the staged events' deliveries join the transaction being committed,
    so they commit with the link change or not at all (a database error fails the commit)."""
    staged: list[_LinkEvent | _BatchEvent] = session.info.pop(_STAGED, [])
    if not staged:
        return
    session.flush()  # a new link's id, defaults and tags, for its payload
    connection = session.connection()
    for item in staged:
        item.write(session, connection)


def _forget_staged(session: Session, transaction: SessionTransaction) -> None:
    """``after_transaction_end``: what a rolled-back transaction staged is not announced
    (nor left for the session's next commit)."""
    if transaction.parent is None:
        session.info.pop(_STAGED, None)


def connect_session_events() -> None:
    """Write staged link events in the committing transaction of every session of ``db``
    (once per process: the sessions of every app come from the one ``db``)."""
    for name, listener in (
        ("before_commit", _write_staged),
        ("after_transaction_end", _forget_staged),
    ):
        if not sqlalchemy_event.contains(db.session, name, listener):
            sqlalchemy_event.listen(db.session, name, listener)


# -- clicks ---------------------------------------------------------------------------------------


class ClickWindow:
    """Per-link click counts of the worker, enqueued as ``link.clicked`` once per window.

    The worker adds the counts of each committed batch (:meth:`add`); :meth:`flush_due`
    enqueues one event per owner (and so per endpoint) with every link clicked in the window.
    A flush that fails (the database down) keeps its counts for the next one. The window is
    in memory only: the counts of the batches committed since the last flush are not
    announced when the worker process dies without stopping (``kill -9``, a crash, a lost
    host); a stop by SIGTERM/SIGINT flushes them. The statistics, committed with each
    batch, are unaffected either way.
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
        try:
            return self._enqueue(counts, opened, now)
        except Exception:
            # Nothing was written (one transaction): the counts go back into the window,
            # which then starts where this one did, and the next flush announces them.
            with self._lock:
                self._counts.update(counts)
                self._opened = opened
            raise

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
