"""The read side (``service.links.queries``) through the API: click totals, ETags from the stored
row, listings on the read replicas, one query per page however many links it holds."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url

from service import create_app
from service.accounts.models import User
from service.analytics.models import HourlyVisits
from service.extensions import db
from service.links import visits
from service.links.models import Link
from tests.api.conftest import Account, AccountFactory, ApiClient
from tests.conftest import POSTGRES_URL, RedisServer


def record_clicks(app: Flask, slug: str, *counts: int) -> None:
    """What the analytics worker writes for ``slug``: one hourly aggregate per count."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        link_id = db.session.scalar(db.select(Link.id).where(Link.slug == slug))
        for back, count in enumerate(counts):
            db.session.add(
                HourlyVisits(link_id=link_id, hour=hour - timedelta(hours=back), visits=count)
            )
        db.session.commit()


def test_visits_is_the_click_total_counted_by_the_worker(api: ApiClient, app: Flask) -> None:
    api.create(slug="plain")
    api.create(slug="limited", max_visits=50)
    assert api.get("/api/v1/links/plain").get_json()["visits"] == 0
    record_clicks(app, "plain", 3, 4)
    record_clicks(app, "limited", 2)
    with app.app_context():
        for _ in range(5):  # the visit limit's own counter is not what `visits` shows
            assert visits.consume_visit("limited", 50)
    assert api.get("/api/v1/links/plain").get_json()["visits"] == 7
    assert api.get("/api/v1/links/limited").get_json()["visits"] == 2
    listed = {item["slug"]: item["visits"] for item in api.get("/api/v1/links").get_json()}
    assert listed == {"plain": 7, "limited": 2}


def test_the_export_carries_the_click_totals(api: ApiClient, app: Flask) -> None:
    api.create(slug="exported")
    record_clicks(app, "exported", 11)
    rows = list(csv.DictReader(io.StringIO(api.get("/api/v1/links/export").get_data(as_text=True))))
    assert [(row["slug"], row["visits"]) for row in rows] == [("exported", "11")]
    items = api.get("/api/v1/links/export?format=json").get_json()
    assert [(item["slug"], item["visits"]) for item in items] == [("exported", 11)]


def test_clicks_do_not_change_the_etag(api: ApiClient, app: Flask) -> None:
    api.create(slug="busy")
    before = api.get("/api/v1/links/busy").headers["ETag"]
    record_clicks(app, "busy", 9)
    after = api.get("/api/v1/links/busy")
    assert after.get_json()["visits"] == 9
    assert after.headers["ETag"] == before


def test_the_same_link_has_the_same_etag_on_two_host_names(api: ApiClient) -> None:
    api.create(slug="twohosts")
    one = api.get("/api/v1/links/twohosts", headers={"Host": "one.example"})
    two = api.get("/api/v1/links/twohosts", headers={"Host": "two.example"})
    assert one.status_code == two.status_code == 200
    assert one.get_json()["short_url"] == "http://one.example/twohosts"
    assert two.get_json()["short_url"] == "http://two.example/twohosts"
    assert one.headers["ETag"] == two.headers["ETag"]
    # and an edit read through one name may be sent through the other
    changed = api.patch(
        "/api/v1/links/twohosts",
        json={"title": "v2"},
        headers={"Host": "two.example", "If-Match": one.headers["ETag"]},
    )
    assert changed.status_code == 200


def _statements_for(app: Flask, action: Any) -> int:
    """How many SQL statements ``action()`` sends (on the primary)."""
    sent: list[str] = []

    def count(*_args: Any) -> None:
        sent.append("x")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(sent)


def test_a_page_costs_the_same_queries_however_many_links(api: ApiClient, app: Flask) -> None:
    for number in range(3):
        api.create(slug=f"few{number}", tags=["a"], max_visits=5)
    few = _statements_for(app, lambda: api.get("/api/v1/links?per_page=100"))
    for number in range(12):
        api.create(slug=f"many{number}", tags=["b"], max_visits=5)
    many = _statements_for(app, lambda: api.get("/api/v1/links?per_page=100"))
    assert len(api.get("/api/v1/links?per_page=100").get_json()) == 15
    assert many == few


# -- listings on the read replicas --------------------------------------------------------------


@contextmanager
def other_database(database_config: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """A second, empty database of the same backend with our tables: a SQLite file, or a
    PostgreSQL database of its own with the primary's schema name (the replica's engine gets
    the primary's options, search path included)."""
    options = database_config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    if not options:
        url = f"sqlite:///{tmp_path / 'replica.db'}"
        engine = create_engine(url)
        db.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    schema = options["connect_args"]["options"].split("=", 1)[1]
    name = f"linkfleet_read_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, **options)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    db.metadata.create_all(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def replica_app(
    redis_server: RedisServer, database_config: dict[str, Any], tmp_path: Path
) -> Iterator[tuple[Flask, str]]:
    """An app whose read replica is another database with other content, so that what a
    page shows tells where it was read."""
    with other_database(database_config, tmp_path) as replica:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "REDIS_URL": redis_server.url,
                "REPLICA_NAME": "test-replica",
                "SQLALCHEMY_READ_URIS": (replica,),
                **database_config,
            }
        )
        with app.app_context():
            db.create_all()
        yield app, replica
        app.shutdown()
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def test_listings_and_the_export_read_from_the_replica(
    replica_app: tuple[Flask, str],
) -> None:
    app, replica = replica_app
    from service.api.keys import create_api_key

    with app.app_context():
        user = User(email="reader@example.com", password_hash="!no-login")
        db.session.add(user)
        db.session.commit()
        _, key = create_api_key(user.id, "tests", "write")
        user_id = user.id
    client = app.test_client()
    api = ApiClient(client, Account(user_id, "reader@example.com", key, key))
    api.create(slug="on-primary")
    now = datetime.now(UTC)
    options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    engine = create_engine(replica, **options)
    with engine.begin() as connection:  # the replica's copy (as if it had replicated)
        connection.execute(
            insert(User.__table__).values(
                id=user_id,
                email="reader@example.com",
                password_hash="!",
                is_admin=False,
                created_at=now,
            )
        )
        connection.execute(
            insert(Link.__table__).values(
                slug="on-replica",
                url="https://replica.example/",
                title="",
                redirect_type=302,
                disabled=False,
                owner_id=user_id,
                created_at=now,
                updated_at=now,
            )
        )
    engine.dispose()
    assert [item["slug"] for item in api.get("/api/v1/links").get_json()] == ["on-replica"]
    export = api.get("/api/v1/links/export?format=json").get_json()
    assert [item["slug"] for item in export] == ["on-replica"]
    # one link read for an edit stays on the primary (it must see what was just written)
    assert api.get("/api/v1/links/on-primary").status_code == 200
    assert api.get("/api/v1/links/on-replica").status_code == 404


def test_a_page_of_another_account_is_not_shown(
    api: ApiClient, make_account: AccountFactory
) -> None:
    other = make_account("carol@example.com")
    api.post("/api/v1/links", key=other.key, json={"url": "https://c.example/", "slug": "carols"})
    api.create(slug="mine")
    assert [item["slug"] for item in api.get("/api/v1/links").get_json()] == ["mine"]


def test_the_openapi_schema_says_what_visits_counts(client: Any) -> None:
    link = client.get("/api/openapi.json").get_json()["components"]["schemas"]["Link"]
    assert link["properties"]["visits"]["description"].startswith("Clicks counted")
    assert (
        "visits"
        not in client.get("/api/openapi.json").get_json()["components"]["schemas"]["LinkCreate"][
            "properties"
        ]
    )
