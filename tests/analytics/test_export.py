"""CSV downloads of a link's visit aggregates: content after the worker counted the clicks,
streamed page by page, CSV-injection safe, and only for the link's owner (both backends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event as sql_event

from service.analytics.extension import DEFAULT_STREAM, analytics
from service.api.keys import create_api_key
from service.extensions import db
from tests.analytics.conftest import CHROME, analytics_config, drain, event, xadd_events
from tests.fixtures.accounts import Account
from tests.fixtures.app import AppFactory, QueryCounter
from tests.fixtures.links import make_link
from tests.fixtures.services import wait_until
from tests.fixtures.users import WebHelper

pytestmark = pytest.mark.integration

BASE = datetime(2026, 5, 28, 9, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
FORMULA = "=HYPERLINK(evil.example)"


def record(app: Flask, events: list[dict[str, Any]]) -> None:
    """The events as the shipper puts them in the stream, counted by the worker."""
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    xadd_events(client, events, DEFAULT_STREAM)
    client.close()
    assert drain(app).counted == len(events)


@dataclass
class Owner:
    """A user who can log in to the dashboard and has a read-only API key."""

    email: str
    auth: dict[str, str]


def make_owner(app: Flask, web: WebHelper, email: str) -> Owner:
    user_id = web.create_user(email)
    with app.app_context():
        _, key = create_api_key(user_id, "export tests", "read")
    return Owner(email, {"Authorization": f"Bearer {key}"})


@pytest.fixture
def ann(app: Flask, web: WebHelper) -> Owner:
    return make_owner(app, web, "ann@example.com")


@pytest.fixture
def clicked(app: Flask, ann: Owner) -> None:
    """Ann's link ``promo`` with known clicks over two days."""
    make_link(app, "promo", owner=ann.email)
    at = BASE.timestamp()
    record(
        app,
        [
            event("promo", ts=at, ref="news.example", br="Chrome", dev="Desktop"),
            event("promo", ts=at + 300, ref=FORMULA, br="Chrome", dev="Desktop"),
            event("promo", ts=at + 2 * 3600, ref="", br="Googlebot", dev="Spider", bot=1),
            event("promo", ts=at - 86400, ref="", br="Firefox", dev="Desktop", os="Linux"),
        ],
    )


HOURLY_CSV = (
    "hour,visits,bot_visits\r\n"
    "2026-05-27T09:00:00Z,1,0\r\n"
    "2026-05-28T09:00:00Z,2,0\r\n"
    "2026-05-28T11:00:00Z,1,1\r\n"
)
DAILY_CSV = (
    "day,dimension,value,visits,bot_visits\r\n"
    "2026-05-27,browser,Firefox,1,0\r\n"
    "2026-05-27,country,,1,0\r\n"
    "2026-05-27,device,Desktop,1,0\r\n"
    "2026-05-27,os,Linux,1,0\r\n"
    "2026-05-27,referrer,,1,0\r\n"
    "2026-05-28,browser,Chrome,2,0\r\n"
    "2026-05-28,browser,Googlebot,1,1\r\n"
    "2026-05-28,country,,3,1\r\n"
    "2026-05-28,device,Desktop,2,0\r\n"
    "2026-05-28,device,Spider,1,1\r\n"
    "2026-05-28,os,Windows,3,1\r\n"
    "2026-05-28,referrer,,1,1\r\n"
    "2026-05-28,referrer,'=HYPERLINK(evil.example),1,0\r\n"
    "2026-05-28,referrer,news.example,1,0\r\n"
)


@pytest.mark.usefixtures("clicked")
@pytest.mark.parametrize(("name", "expected"), [("visits", HOURLY_CSV), ("dimensions", DAILY_CSV)])
def test_api_streams_what_the_worker_counted(
    app: Flask, ann: Owner, name: str, expected: str
) -> None:
    response = app.test_client().get(f"/api/v1/links/promo/{name}.csv", headers=ann.auth)
    assert response.status_code == 200
    assert response.is_streamed  # a generator, not a body built in memory
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="promo-{name}.csv"'
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.get_data(as_text=True) == expected


@pytest.mark.usefixtures("clicked")
@pytest.mark.parametrize(("name", "expected"), [("visits", HOURLY_CSV), ("dimensions", DAILY_CSV)])
def test_the_stats_page_offers_the_same_downloads(
    app: Flask, ann: Owner, web: WebHelper, name: str, expected: str
) -> None:
    client = app.test_client()
    web.log_in(client, ann.email)
    page = client.get("/dashboard/links/promo/stats").get_data(as_text=True)
    assert f'href="/dashboard/links/promo/stats/{name}.csv"' in page
    response = client.get(f"/dashboard/links/promo/stats/{name}.csv")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.get_data(as_text=True) == expected


def test_an_empty_history_is_the_header_only(app: Flask, ann: Owner) -> None:
    make_link(app, "quiet", owner=ann.email)
    client = app.test_client()
    hourly = client.get("/api/v1/links/quiet/visits.csv", headers=ann.auth)
    assert hourly.get_data(as_text=True) == "hour,visits,bot_visits\r\n"
    daily = client.get("/api/v1/links/quiet/dimensions.csv", headers=ann.auth)
    assert daily.get_data(as_text=True) == "day,dimension,value,visits,bot_visits\r\n"


def test_long_histories_are_read_a_page_at_a_time(make_app: AppFactory, tmp_path: Path) -> None:
    """Five stored hours with pages of two: three short queries, each row there once."""
    app = make_app(**analytics_config(tmp_path / "paged"), ANALYTICS_EXPORT_PAGE_SIZE=2)
    owner = make_owner(app, WebHelper(app), "pages@example.com")
    make_link(app, "promo", owner=owner.email)
    record(app, [event("promo", ts=(BASE + n * HOUR).timestamp()) for n in range(5)])
    counter = QueryCounter()
    with app.app_context():
        engine = db.engine
    sql_event.listen(engine, "before_cursor_execute", counter)
    try:
        body = app.test_client().get("/api/v1/links/promo/visits.csv", headers=owner.auth)
        lines = body.get_data(as_text=True).splitlines()
    finally:
        sql_event.remove(engine, "before_cursor_execute", counter)
    assert lines == ["hour,visits,bot_visits"] + [
        f"2026-05-28T{9 + n:02d}:00:00Z,1,0" for n in range(5)
    ]
    assert counter.about("analytics_hourly") == 3


def test_real_clicks_reach_the_download(app: Flask, ann: Owner) -> None:
    """From the redirect through spool, shipper and worker into the CSV."""
    make_link(app, "promo", owner=ann.email)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/promo", headers={"User-Agent": CHROME}).status_code == 302
    shipper = analytics.shipper(app)
    assert shipper is not None
    wait_until(lambda: shipper.shipped == 3, 10, "the shipper did not ship the clicks")
    assert drain(app).counted == 3
    body = client.get("/api/v1/links/promo/dimensions.csv", headers=ann.auth)
    assert ",device,Desktop,3,0\r\n" in body.get_data(as_text=True)
    hourly = client.get("/api/v1/links/promo/visits.csv", headers=ann.auth)
    assert hourly.get_data(as_text=True).endswith(",3,0\r\n")


@pytest.mark.usefixtures("clicked")
@pytest.mark.parametrize("name", ["visits", "dimensions"])
def test_only_the_owner_gets_the_download(
    app: Flask, bob: Account, web: WebHelper, name: str
) -> None:
    client = app.test_client()
    api_path = f"/api/v1/links/promo/{name}.csv"
    assert client.get(api_path).status_code == 401
    theirs = client.get(api_path, headers=bob.read_auth)
    assert theirs.status_code == 404
    assert theirs.mimetype == "application/problem+json"
    page_path = f"/dashboard/links/promo/stats/{name}.csv"
    anonymous = client.get(page_path)
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]
    web.create_user("carol@example.com")
    web.log_in(client, "carol@example.com")
    other = client.get(page_path, headers={"Accept": "text/html"})
    assert other.status_code == 404
    assert "bot_visits" not in other.get_data(as_text=True)


@pytest.mark.usefixtures("clicked")
def test_unknown_downloads_are_a_friendly_404(app: Flask, ann: Owner, web: WebHelper) -> None:
    client: FlaskClient = app.test_client()
    web.log_in(client, ann.email)
    response = client.get("/dashboard/links/promo/stats/passwords.csv")
    assert response.status_code == 404
    assert "<html" in response.get_data(as_text=True)
    api = client.get("/api/v1/links/promo/everything.csv", headers=ann.auth)
    assert api.status_code == 404
    assert api.mimetype == "application/problem+json"
