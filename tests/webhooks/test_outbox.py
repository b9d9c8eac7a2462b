"""The outbox: a link event's delivery row exists if and only if the link change committed.

The rows are written in the change's own transaction (no window in which a crash loses the
event). Real SQLite and PostgreSQL; database triggers make a write fail where a test needs
it to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from service.accounts.models import User
from service.extensions import db
from service.links.errors import SlugTaken, ValidationError
from service.links.models import Link
from service.links.services import create_link, delete_link, update_link, write_batch
from service.webhooks.models import WebhookDelivery
from service.webhooks.outbox import ClickWindow
from service.webhooks.services import create_endpoint
from tests.fixtures.users import add_user, user_with_email

pytestmark = pytest.mark.integration

EVENTS = ["link.created", "link.updated", "link.deleted"]


def subscribed_owner(email: str = "hooked@example.com") -> User:
    """A user with an endpoint subscribed to the link events (call in an app context)."""
    owner = user_with_email(email)
    create_endpoint(owner.id, "http://127.0.0.1:9/hook", EVENTS)
    return owner


def events() -> list[str]:
    """The events of the committed delivery rows, oldest first (in a new transaction)."""
    db.session.rollback()
    return list(db.session.scalars(select(WebhookDelivery.event).order_by(WebhookDelivery.id)))


def link_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Link)) or 0)


@contextmanager
def refused(table: str, operation: str) -> Iterator[None]:
    """Every ``operation`` (INSERT, UPDATE, DELETE) on ``table`` fails in the database."""
    dialect = db.engine.dialect.name
    with db.engine.begin() as connection:
        if dialect == "sqlite":
            connection.execute(
                text(
                    f"CREATE TRIGGER refuse BEFORE {operation} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                )
            )
            connection.execute(
                text(
                    f"CREATE TRIGGER refuse BEFORE {operation} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
    try:
        yield
    finally:
        db.session.remove()
        with db.engine.begin() as connection:
            if dialect == "sqlite":
                connection.execute(text("DROP TRIGGER refuse"))
            else:  # PostgreSQL keeps the tables between tests
                connection.execute(text(f"DROP TRIGGER refuse ON {table}"))
                connection.execute(text("DROP FUNCTION refuse()"))


def test_each_committed_change_has_its_row_when_the_call_returns(app: Flask) -> None:
    with app.test_request_context():
        owner = subscribed_owner()
        link = create_link(owner, url="https://example.com/a", slug="first")
        assert events() == ["link.created"]
        link = db.session.get(Link, link.id)
        update_link(link, slug="renamed")
        assert events() == ["link.created", "link.updated"]
        delete_link(db.session.get(Link, link.id))
        assert events() == ["link.created", "link.updated", "link.deleted"]
        rows = [
            (1, {"slug": "imp1", "url": "https://example.com/1"}),
            (2, {"url": "https://x.org"}),
        ]
        assert len(write_batch(user_with_email(owner.email), rows).created) == 2
        assert events()[3:] == ["link.created", "link.created"]
        again = [(1, {"slug": "imp1", "url": "https://example.com/changed"})]
        result = write_batch(user_with_email(owner.email), again, update_existing=True)
        assert result.updated == ["imp1"]
        assert events()[5:] == ["link.updated"]
        payloads = list(db.session.scalars(select(WebhookDelivery.payload)))
    assert '"slug":"first"' in payloads[0]
    assert '"previous_slug":"first"' in payloads[1]


def test_refused_changes_leave_no_row(app: Flask) -> None:
    with app.test_request_context():
        owner = subscribed_owner()
        create_link(owner, url="https://example.com/a", slug="taken")
        before = events()
        with pytest.raises(ValidationError):
            create_link(user_with_email(owner.email), url="javascript:alert(1)", slug="bad")
        with pytest.raises(SlugTaken):
            create_link(user_with_email(owner.email), url="https://example.com/b", slug="taken")
        other = create_link(user_with_email(owner.email), url="https://example.com/c", slug="c")
        with pytest.raises(SlugTaken):
            update_link(db.session.get(Link, other.id), slug="taken")
        with pytest.raises(ValidationError):
            update_link(db.session.get(Link, other.id), url="not a url")
        rows = [(1, {"slug": "x", "url": "ftp://nope"})]
        assert write_batch(user_with_email(owner.email), rows).failed
        assert events() == [*before, "link.created"]  # "c" only


def test_a_change_whose_event_cannot_be_written_does_not_commit(app: Flask) -> None:
    """If the outbox row fails, so does the change: never a change without its event."""
    with app.test_request_context():
        owner = subscribed_owner()
        kept = create_link(owner, url="https://example.com/a", slug="kept")
        kept_id = kept.id
        with refused("webhook_deliveries", "INSERT"):
            with pytest.raises(DBAPIError):
                create_link(user_with_email(owner.email), url="https://example.com/b", slug="new")
            db.session.rollback()
            assert link_count() == 1
            with pytest.raises(DBAPIError):
                update_link(db.session.get(Link, kept_id), slug="moved")
            db.session.rollback()
            assert db.session.get(Link, kept_id).slug == "kept"
            with pytest.raises(DBAPIError):
                delete_link(db.session.get(Link, kept_id))
            db.session.rollback()
            assert link_count() == 1
        assert events() == ["link.created"]


def test_a_rolled_back_change_is_not_announced_by_a_later_commit(app: Flask) -> None:
    with app.test_request_context():
        owner = subscribed_owner()
        link_id = create_link(owner, url="https://example.com/a", slug="stays").id
        with refused("links", "UPDATE"):
            with pytest.raises(DBAPIError):
                update_link(db.session.get(Link, link_id), title="never")
            db.session.rollback()
            add_user("later@example.com")  # the session's next commit writes no stale event
        assert events() == ["link.created"]
        update_link(db.session.get(Link, link_id), title="now")
        assert events() == ["link.created", "link.updated"]


def test_an_owner_without_webhooks_gets_no_rows(app: Flask) -> None:
    with app.test_request_context():
        subscribed_owner()
        plain = add_user("plain@example.com")
        link = create_link(plain, url="https://example.com/a", slug="plain")
        update_link(db.session.get(Link, link.id), title="t")
        delete_link(db.session.get(Link, link.id))
        assert events() == []


def test_a_click_window_that_cannot_be_written_is_announced_by_the_next_flush(
    app: Flask,
) -> None:
    """The database down at the window's end: the counts wait for the next flush."""
    with app.test_request_context():
        owner = user_with_email("clicks@example.com")
        create_endpoint(owner.id, "http://127.0.0.1:9/hook", ["link.clicked"])
        link_id = create_link(owner, url="https://example.com/a", slug="clicked").id
        window = ClickWindow(app)
        window.add({link_id: 3})
        with refused("webhook_deliveries", "INSERT"), pytest.raises(DBAPIError):
            window.flush_due(force=True)
        window.add({link_id: 2})
        assert window.flush_due(force=True) == 1
        (payload,) = db.session.scalars(select(WebhookDelivery.payload)).all()
    assert '"links":[{"slug":"clicked","clicks":5}]' in payload
