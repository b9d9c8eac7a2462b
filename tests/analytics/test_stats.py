"""Statistics: ranges, the JSON of ``link_stats`` and the overview, and the dashboard pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from service.accounts.models import User
from service.analytics.extension import DEFAULT_STREAM
from service.analytics.models import DailyDimension
from service.analytics.stats import (
    StatsQueryError,
    account_overview,
    link_stats,
    stats_range,
)
from service.extensions import db
from service.links.models import Link
from tests.analytics.conftest import drain, event, xadd_events
from tests.fixtures.links import make_link
from tests.fixtures.users import WebHelper

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 28, 15, 20, tzinfo=UTC)
#: A ``<script>`` element without ``src``: what the CSP would block.
INLINE_SCRIPT = r"<script(?![^>]*\ssrc=)"
HOUR = timedelta(hours=1)


# -- ranges ---------------------------------------------------------------------------------


def test_default_range_is_the_last_seven_days_per_day() -> None:
    span = stats_range(now=NOW)
    assert span.granularity == "day"
    assert span.start == datetime(2026, 5, 21, tzinfo=UTC)
    assert span.end == datetime(2026, 5, 29, tzinfo=UTC)
    assert len(span.buckets()) == 8


def test_short_ranges_default_to_hours() -> None:
    span = stats_range("2026-05-27T10:30", "2026-05-28T09:10Z", now=NOW)
    assert span.granularity == "hour"
    assert span.start == datetime(2026, 5, 27, 10, tzinfo=UTC)
    assert span.end == datetime(2026, 5, 28, 10, tzinfo=UTC)
    assert len(span.buckets()) == 24


def test_a_date_as_to_includes_that_day() -> None:
    span = stats_range("2026-05-01", "2026-05-31", "day", now=NOW)
    assert span.end == datetime(2026, 6, 1, tzinfo=UTC)
    assert len(span.buckets()) == 31


def test_offsets_are_converted_to_utc() -> None:
    span = stats_range("2026-05-28T12:00+02:00", "2026-05-28T14:00+02:00", "hour", now=NOW)
    assert span.start == datetime(2026, 5, 28, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("yesterday", None, None), "from"),
        ((None, "2026-13-01", None), "to"),
        (("2026-05-10", "2026-05-01", None), "from"),
        (("2024-01-01", "2026-05-01", None), "from"),
        (("2026-01-01", "2026-05-01", "hour"), "granularity"),
        ((None, None, "week"), "granularity"),
    ],
)
def test_bad_ranges_name_the_field(args: tuple[Any, Any, Any], field: str) -> None:
    with pytest.raises(StatsQueryError) as caught:
        stats_range(*args, now=NOW)
    assert field in caught.value.errors


# -- the numbers ----------------------------------------------------------------------------


def record(app: Flask, events: list[dict[str, Any]]) -> None:
    from redis import Redis

    client = Redis.from_url(app.config["REDIS_URL"])
    xadd_events(client, events, DEFAULT_STREAM)
    client.close()
    assert drain(app).counted == len(events)


def at(moment: datetime) -> float:
    return moment.timestamp()


@pytest.fixture
def visited(app: Flask) -> dict[str, int]:
    """Two links of one owner and one of another, with known clicks."""
    promo = make_link(app, "promo", owner="ann@example.com")
    docs = make_link(app, "docs", owner="ann@example.com")
    other = make_link(app, "other", owner="bob@example.com")
    base = datetime(2026, 5, 28, 9, 10, tzinfo=UTC)
    record(
        app,
        [
            event("promo", ts=at(base), ref="news.example", br="Chrome", ip="a" * 32),
            event(
                "promo",
                ts=at(base + timedelta(minutes=5)),
                ref="news.example",
                br="Chrome",
                ip="a" * 32,
            ),
            event("promo", ts=at(base + HOUR), ref="", br="Firefox", ip="b" * 32, cc="DE"),
            event("promo", ts=at(base + 2 * HOUR), ref="", br="Googlebot", bot=1, ip="c" * 32),
            event("promo", ts=at(base + 2 * HOUR), ref="", br="Googlebot", bot=1, ip="c" * 32),
            event("promo", ts=at(base - timedelta(days=1)), ref="mail.example", ip="a" * 32),
            event("promo", ts=at(base - timedelta(days=30))),  # outside the ranges below
            event("docs", ts=at(base), ref="news.example", ip="a" * 32),
            event("other", ts=at(base), ref="secret.example", ip="z" * 32),
        ],
    )
    return {"promo": promo, "docs": docs, "other": other}


def link(app: Flask, link_id: int) -> Link:
    found = db.session.get(Link, link_id)
    assert found is not None
    return found


def test_link_stats_per_hour(app: Flask, visited: dict[str, int]) -> None:
    with app.app_context():
        stats = link_stats(link(app, visited["promo"]), "2026-05-28T00:00", "2026-05-29T00:00")
    assert stats["slug"] == "promo"
    assert stats["granularity"] == "hour"
    assert (stats["from"], stats["to"]) == ("2026-05-28T00:00:00Z", "2026-05-29T00:00:00Z")
    assert len(stats["series"]) == 24
    by_hour = {point["start"][11:13]: point for point in stats["series"] if point["visits"]}
    assert {hour: (p["visits"], p["humans"], p["bots"]) for hour, p in by_hour.items()} == {
        "09": (2, 2, 0),
        "10": (1, 1, 0),
        "11": (2, 0, 2),
    }
    assert stats["totals"] == {"visits": 5, "humans": 3, "bots": 2, "unique_visitors": 2}
    top = stats["top"]
    assert top["referrers"] == [
        {"value": "news.example", "visits": 2, "humans": 2, "bots": 0},
        {"value": "", "visits": 3, "humans": 1, "bots": 2},
    ]
    assert [item["value"] for item in top["browsers"]] == ["Chrome", "Firefox", "Googlebot"]
    assert top["countries"][0] == {"value": "", "visits": 4, "humans": 2, "bots": 2}
    assert set(top) == {"referrers", "browsers", "os", "devices", "countries"}


def test_link_stats_per_day(app: Flask, visited: dict[str, int]) -> None:
    with app.app_context():
        stats = link_stats(link(app, visited["promo"]), "2026-05-22", "2026-05-28", "day")
    assert len(stats["series"]) == 7
    assert [point["visits"] for point in stats["series"]][-2:] == [1, 5]
    assert stats["totals"]["visits"] == 6
    # "a" on two days: unique per day, summed over the days (the salt rotates daily).
    assert stats["totals"]["unique_visitors"] == 3
    assert {item["value"] for item in stats["top"]["referrers"]} == {
        "news.example",
        "mail.example",
        "",
    }


def test_the_overview_covers_the_users_links_only(app: Flask, visited: dict[str, int]) -> None:
    with app.app_context():
        ann = db.session.scalar(select(User).where(User.email == "ann@example.com"))
        assert ann is not None
        stats = account_overview(ann, "2026-05-28", "2026-05-28")
        assert stats["totals"]["visits"] == 6
        assert stats["totals"]["links"] == 2
        assert stats["totals"]["unique_visitors"] == 2  # a (on both links) once, b; no bots
        assert [item["slug"] for item in stats["top"]["links"]] == ["promo", "docs"]
        assert "secret.example" not in str(stats)
        ann.is_admin = True
        everything = account_overview(ann, "2026-05-28", "2026-05-28")
        db.session.rollback()
    assert everything["totals"]["visits"] == 7
    assert {item["slug"] for item in everything["top"]["links"]} == {"promo", "docs", "other"}


def test_a_range_starting_on_the_hour_of_a_click_counts_it(app: Flask) -> None:
    """A click at 20:30 counted by the real worker is in a range from 20:00: the worker
    stores the hour as the range query binds it (on SQLite too, where both are text)."""
    promo = make_link(app, "promo", owner="ann@example.com")
    record(app, [event("promo", ts=at(datetime(2026, 5, 28, 20, 30, tzinfo=UTC)))])
    with app.app_context():
        stats = link_stats(link(app, promo), "2026-05-28T20:00", "2026-05-28T22:00", "hour")
        ann = db.session.scalar(select(User).where(User.email == "ann@example.com"))
        assert ann is not None
        overview = account_overview(ann, "2026-05-28T20:00", "2026-05-28T22:00", "hour")
    assert [point["visits"] for point in stats["series"]] == [1, 0]
    assert stats["totals"]["visits"] == 1
    assert overview["totals"]["visits"] == 1
    assert [item["slug"] for item in overview["top"]["links"]] == ["promo"]


def test_the_first_hour_of_a_day_range_is_counted(app: Flask) -> None:
    """Midnight to 01:00, the first hour of a range of days (the default view's too)."""
    promo = make_link(app, "promo")
    record(app, [event("promo", ts=at(datetime(2026, 5, 28, 0, 30, tzinfo=UTC)))])
    with app.app_context():
        stats = link_stats(link(app, promo), "2026-05-28", "2026-05-28", "day")
    assert [point["visits"] for point in stats["series"]] == [1]
    assert stats["totals"]["visits"] == 1


# -- the pages ------------------------------------------------------------------------------


def page_of(web: WebHelper, app: Flask, email: str, path: str, *, admin: bool = False) -> Any:
    web.create_user(email, admin=admin)
    client = app.test_client()
    web.log_in(client, email)
    return client.get(path)


def test_pages_need_a_login(app: Flask) -> None:
    make_link(app)
    client = app.test_client()
    for path in ("/dashboard/links/promo/stats", "/dashboard/stats"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_link_page_shows_svg_charts_and_numbers(app: Flask, web: WebHelper) -> None:
    web.create_user("owner@example.com")
    make_link(app, "promo", owner="owner@example.com")
    now = datetime.now(UTC)
    record(
        app,
        [
            event("promo", ts=at(now), ref="news.example", br="Chrome"),
            event("promo", ts=at(now), br="Googlebot", bot=1),
        ],
    )
    client = app.test_client()
    web.log_in(client, "owner@example.com")
    response = client.get("/dashboard/links/promo/stats")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<svg class="chart"' in html
    assert "news.example" in html
    assert "Googlebot" in html
    assert re.search(r'stat-value"[^>]*>2</span><span class="stat-label">visits', html)
    # CSP: no inline script (the live-totals script is a file) and no style attribute.
    assert re.search(INLINE_SCRIPT, html) is None
    assert " style=" not in html
    hourly = client.get("/dashboard/links/promo/stats?granularity=hour&from=&to=")
    assert hourly.status_code == 200


def test_other_users_links_are_not_found(app: Flask, web: WebHelper) -> None:
    make_link(app, "promo", owner="ann@example.com")
    response = page_of(web, app, "eve@example.com", "/dashboard/links/promo/stats")
    assert response.status_code == 404


def test_admins_see_every_links_stats(app: Flask, web: WebHelper) -> None:
    make_link(app, "promo", owner="ann@example.com")
    response = page_of(web, app, "root@example.com", "/dashboard/links/promo/stats", admin=True)
    assert response.status_code == 200


def test_a_bad_range_is_explained(app: Flask, web: WebHelper) -> None:
    web.create_user("ann@example.com")
    make_link(app, "promo", owner="ann@example.com")
    client = app.test_client()
    web.log_in(client, "ann@example.com")
    response = client.get("/dashboard/links/promo/stats?from=soon")
    assert response.status_code == 400
    assert "Use a date" in response.get_data(as_text=True)


def test_visitor_supplied_values_are_escaped(app: Flask, web: WebHelper) -> None:
    web.create_user("ann@example.com")
    link_id = make_link(app, "promo", owner="ann@example.com")
    with app.app_context():
        db.session.add(
            DailyDimension(
                link_id=link_id,
                dimension="referrer",
                day=datetime.now(UTC).date(),
                value="<script>alert(1)</script>",
                visits=1,
                bot_visits=0,
            )
        )
        db.session.commit()
    client = app.test_client()
    web.log_in(client, "ann@example.com")
    html = client.get("/dashboard/links/promo/stats").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_overview_page(app: Flask, web: WebHelper) -> None:
    web.create_user("ann@example.com")
    make_link(app, "promo", owner="ann@example.com")
    record(app, [event("promo", ts=at(datetime.now(UTC)))])
    client = app.test_client()
    web.log_in(client, "ann@example.com")
    response = client.get("/dashboard/stats")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "/dashboard/links/promo/stats" in html
    assert re.search(INLINE_SCRIPT, html) is None
