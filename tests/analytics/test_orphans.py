"""Orphan visits: which requests count, what is kept, the bounded hourly rows, the admin
page and ``GET /api/v1/visits/orphan``.

Real Redis, real SQLite and PostgreSQL, the app's real spool and shipper, a real worker.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from service.analytics.extension import DEFAULT_STREAM, analytics
from service.analytics.models import OrphanHourly
from service.analytics.orphans import OTHER, host_of, orphan_type
from service.extensions import db
from service.links.models import Link
from service.links.services import update_link
from tests.analytics.conftest import CHROME, GOOGLEBOT, drain
from tests.domains.conftest import new_domain
from tests.fixtures.accounts import AccountFactory
from tests.fixtures.app import AppFactory, QueryCounter
from tests.fixtures.links import make_link, quiesce_link_cache
from tests.fixtures.services import wait_until
from tests.fixtures.users import WebHelper

pytestmark = pytest.mark.integration

VISITOR_IP = "203.0.113.77"


@pytest.mark.parametrize(
    ("method", "endpoint", "path", "status", "expected"),
    [
        ("GET", "redirect.follow", "/nope", 404, "invalid_short_url"),
        ("GET", "redirect.follow", "/used-up", 410, "invalid_short_url"),
        ("GET", "redirect.follow", "/promo", 302, None),
        ("HEAD", "redirect.follow", "/nope", 404, None),
        ("GET", None, "/a/b/c", 404, "regular_404"),
        ("GET", None, "/api/v1/nope", 404, None),
        ("GET", "pages.index", "/", 200, None),
        ("GET", "dashboard.detail", "/dashboard/links/x", 404, None),
        ("GET", None, "/a/b", 405, None),
    ],
    ids=[
        "unknown-slug",
        "gone-slug",
        "served-redirect",
        "head",
        "no-route",
        "api-path",
        "landing-page",
        "app-page-404",
        "not-a-404",
    ],
)
def test_what_counts_as_an_orphan_visit(
    method: str, endpoint: str | None, path: str, status: int, expected: str | None
) -> None:
    assert orphan_type(method, endpoint, path, status) == expected


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Example.COM:8080", "example.com"),
        ("s.example.org", "s.example.org"),
        ("[::1]:8080", "::1"),
        ("evil host\x00", OTHER),
        ("", OTHER),
        ("a" * 300, OTHER),
    ],
    ids=["port-and-case", "plain", "ipv6", "garbage", "empty", "too-long"],
)
def test_hosts_are_names_or_other(header: str, host: str) -> None:
    assert host_of(header) == host


def _wait_shipped(app: Flask, total: int) -> None:
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    try:
        wait_until(lambda: client.xlen(DEFAULT_STREAM) >= total, 30, "orphan lines shipped")
    finally:
        client.close()


def _rows(app: Flask) -> list[tuple[str, str, str, int, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(
                OrphanHourly.type,
                OrphanHourly.host,
                OrphanHourly.referrer_host,
                OrphanHourly.visits,
                OrphanHourly.bot_visits,
            ).order_by(OrphanHourly.type, OrphanHourly.host, OrphanHourly.referrer_host)
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_unknown_unservable_and_missing_pages_are_counted_by_the_worker(
    app: Flask, client: FlaskClient
) -> None:
    make_link(app, "promo")
    make_link(app, "switched-off")
    with app.app_context():
        link = db.session.scalar(select(Link).where(Link.slug == "switched-off"))
        assert link is not None
        update_link(link, disabled=True)
    browser = {"User-Agent": CHROME, "Host": "s.example.org"}
    environ = {"REMOTE_ADDR": VISITOR_IP}
    asks = [
        ("/no-such-slug", {"Referer": "https://www.news.example/story"}, 404),
        ("/switched-off", {}, 404),
        ("/a/b/c", {"Referer": "https://forum.example/t/1"}, 404),
        ("/no-such-slug", {"Referer": "https://news.example/", "DNT": "1"}, 404),
        ("/no-such-slug", {"User-Agent": GOOGLEBOT}, 404),
        # not orphan visits: the landing page, a served redirect, the API, a HEAD
        ("/", {}, 200),
        ("/promo", {}, 302),
        ("/api/v1/nothing-here", {}, 404),
    ]
    for path, headers, status in asks:
        response = client.get(path, headers={**browser, **headers}, environ_base=environ)
        assert response.status_code == status, path
    assert client.head("/no-such-slug", headers=browser).status_code == 404
    _wait_shipped(app, 6)  # five orphan visits and the click on /promo
    totals = drain(app)
    assert totals.orphan_visits == 5
    assert totals.counted == 1
    assert _rows(app) == [
        ("invalid_short_url", "s.example.org", "", 3, 1),  # disabled, DNT (no referrer), bot
        ("invalid_short_url", "s.example.org", "news.example", 1, 0),
        ("regular_404", "s.example.org", "forum.example", 1, 0),
    ]
    # Nothing about the visitor but the referrer's host went anywhere: not the address,
    # not the path.
    stream = redis.Redis.from_url(app.config["REDIS_URL"])
    lines = [fields[b"e"] for _, fields in stream.xrange(DEFAULT_STREAM)]
    stream.close()
    orphan_lines = [line for line in lines if line.startswith(b'{"v":1,"orphan":')]
    assert len(orphan_lines) == 5
    for line in orphan_lines:
        assert VISITOR_IP.encode() not in line
        assert b"no-such-slug" not in line
        assert b"/a/b/c" not in line
        assert set(json.loads(line)) == {"v", "orphan", "host", "ref", "ts", "bot"}


def test_an_added_domains_root_and_pages_it_does_not_serve_are_counted(
    make_app: AppFactory,
) -> None:
    """``base_url``: ``/`` of an added domain (its root redirect or the 404 page);
    ``regular_404``: a page an added domain or an unknown host does not serve."""
    app = make_app(PUBLIC_URL="http://s.example.org")
    new_domain(app, "go.example", root_redirect="https://go-home.example/")
    new_domain(app, "bare.example")
    client = app.test_client()
    browser = {"User-Agent": CHROME}
    asks = [
        ("go.example", "/", 302),
        ("bare.example", "/", 404),
        ("go.example", "/dashboard", 404),
        ("evil.example", "/", 404),
        ("s.example.org", "/", 200),  # the default domain's start page: no orphan
    ]
    for host, path, status in asks:
        response = client.get(path, headers={**browser, "Host": host})
        assert response.status_code == status, (host, path)
    _wait_shipped(app, 4)
    assert drain(app).orphan_visits == 4
    assert _rows(app) == [
        ("base_url", "bare.example", "", 1, 0),
        ("base_url", "go.example", "", 1, 0),
        ("regular_404", "evil.example", "", 1, 0),
        ("regular_404", "go.example", "", 1, 0),
    ]


def test_a_repeated_unknown_slug_stays_cheap(
    app: Flask, client: FlaskClient, count_queries: QueryCounter
) -> None:
    """Recording the orphan visit adds no query: the negative cache answers the repeat."""
    quiesce_link_cache(app)
    assert client.get("/never-made").status_code == 404
    before = count_queries.count
    for _ in range(5):
        assert client.get("/never-made").status_code == 404
    assert count_queries.count == before
    shipper = analytics.shipper(app)
    assert shipper is not None
    wait_until(lambda: shipper.shipped >= 6, 10, "all six orphan visits spooled and shipped")


def test_a_flood_of_random_slugs_and_referrers_adds_at_most_the_cap_of_rows(
    make_app: AppFactory,
) -> None:
    app = make_app(LINK_NOT_FOUND_LIMIT="100000 per minute")
    client = app.test_client()
    flood, cap = 2500, 40
    for number in range(flood):
        response = client.get(
            f"/{uuid.uuid4().hex[:12]}",
            headers={"Referer": f"https://r{number}.flood.example/", "User-Agent": CHROME},
            environ_base={"REMOTE_ADDR": f"198.51.100.{number % 250}"},
        )
        assert response.status_code == 404
    _wait_shipped(app, flood)
    assert drain(app, orphan_referrer_cap=cap, batch_size=500).orphan_visits == flood
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(OrphanHourly))
        visits = db.session.scalar(select(func.sum(OrphanHourly.visits)))
        others = db.session.scalar(
            select(func.sum(OrphanHourly.visits)).where(OrphanHourly.referrer_host == OTHER)
        )
        hours = db.session.scalar(select(func.count(func.distinct(OrphanHourly.hour))))
        db.session.remove()
    # One row per referrer host up to the cap and one "other" per hour the flood touched
    # (it may straddle an hour boundary).
    assert hours is not None
    assert rows is not None
    assert rows <= hours * (cap + 1)
    assert visits == flood  # every visit counted, none lost to the cap
    assert others is not None
    assert others >= flood - hours * cap


# -- reading them ---------------------------------------------------------------------------


def _seed(app: Flask) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        db.session.add_all(
            [
                OrphanHourly(
                    hour=hour,
                    type="invalid_short_url",
                    host="s.example.org",
                    referrer_host="news.example",
                    visits=7,
                    bot_visits=2,
                ),
                OrphanHourly(
                    hour=hour,
                    type="regular_404",
                    host="s.example.org",
                    referrer_host="",
                    visits=3,
                    bot_visits=0,
                ),
            ]
        )
        db.session.commit()


def test_the_api_shows_orphan_visits_to_admins_only(
    app: Flask, client: FlaskClient, make_account: AccountFactory
) -> None:
    _seed(app)
    admin = make_account("root@example.com", admin=True)
    user = make_account("someone@example.com")
    response = client.get("/api/v1/visits/orphan", headers=admin.read_auth)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["totals"] == {"visits": 10, "humans": 8, "bots": 2}
    assert body["types"] == [
        {"value": "base_url", "visits": 0, "humans": 0, "bots": 0},
        {"value": "invalid_short_url", "visits": 7, "humans": 5, "bots": 2},
        {"value": "regular_404", "visits": 3, "humans": 3, "bots": 0},
    ]
    assert body["top"]["referrers"][0] == {
        "value": "news.example",
        "visits": 7,
        "humans": 5,
        "bots": 2,
    }
    assert sum(point["visits"] for point in body["series"]) == 10
    only = client.get("/api/v1/visits/orphan?type=regular_404", headers=admin.read_auth)
    assert only.get_json()["totals"]["visits"] == 3

    refused = client.get("/api/v1/visits/orphan", headers=user.read_auth)
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert "administrator" in refused.get_json()["detail"]
    assert client.get("/api/v1/visits/orphan").status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [("type=root", "type"), ("from=yesterday", "from"), ("granularity=week", "granularity")],
    ids=["unknown-type", "bad-from", "bad-granularity"],
)
def test_bad_orphan_queries_are_problems(
    client: FlaskClient, make_account: AccountFactory, query: str, field: str
) -> None:
    admin = make_account("root@example.com", admin=True)
    response = client.get(f"/api/v1/visits/orphan?{query}", headers=admin.read_auth)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_the_admin_page_shows_them_and_is_in_the_navigation(
    app: Flask, client: FlaskClient, web: WebHelper
) -> None:
    _seed(app)
    web.create_user("root@example.com", admin=True)
    web.log_in(client, "root@example.com")
    page = client.get("/dashboard/stats").get_data(as_text=True)
    assert 'href="/dashboard/orphan-visits"' in page
    response = client.get("/dashboard/orphan-visits")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-orphan-total="visits">10<' in html
    assert 'data-orphan-type="invalid_short_url">7<' in html
    assert "news.example" in html
    bad = client.get("/dashboard/orphan-visits?type=nonsense")
    assert bad.status_code == 400
    assert "Choose one of" in bad.get_data(as_text=True)


def test_the_admin_page_is_refused_to_other_users(client: FlaskClient, web: WebHelper) -> None:
    web.create_user("someone@example.com")
    web.log_in(client, "someone@example.com")
    assert 'href="/dashboard/orphan-visits"' not in client.get("/dashboard/stats").get_data(
        as_text=True
    )
    response = client.get("/dashboard/orphan-visits")
    assert response.status_code == 403
    assert "administrators only" in response.get_data(as_text=True)
