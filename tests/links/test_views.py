"""The redirect blueprint through the test client, on real Redis and both databases.

Every test runs twice: through Flask's full dispatch (the redirect lane off), and with the
redirect lane on and each link looked up once before it is requested, so that a cached plain
link is answered by the lane (:mod:`service.redirect_lane`) and anything else falls through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask, request_started
from flask.testing import FlaskClient
from sqlalchemy import update

from service import signals
from service.extensions import db
from service.links.cache import link_cache
from service.links.models import Link
from service.links.services import create_link, update_link
from tests.fixtures.app import QueryCounter
from tests.fixtures.links import quiesce_link_cache
from tests.fixtures.services import RedisServer
from tests.fixtures.users import UserFactory

# Every test once through Flask's full dispatch and once through the redirect lane.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("redirect_path")]

TARGET = "https://example.com/landing?from=short"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def new_link(app: Flask, make_user: UserFactory, **fields: Any) -> str:
    """Create a link in its own app context; returns its slug."""
    fields.setdefault("url", TARGET)
    with app.app_context():
        return create_link(make_user(), **fields).slug


@contextmanager
def visits_recorded() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append({"sender": sender, **kwargs})

    signals.link_visited.connect(receiver)
    try:
        yield calls
    finally:
        signals.link_visited.disconnect(receiver)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_each_redirect_type_returns_its_status(
    app: Flask, client: FlaskClient, make_user: UserFactory, status: int
) -> None:
    slug = new_link(app, make_user, redirect_type=status)
    response = client.get(f"/{slug}")
    assert response.status_code == status
    assert response.headers["Location"] == TARGET
    assert response.headers["X-Served-By"] == "test-replica"
    expected = "private, max-age=3600" if status in {301, 308} else "private, max-age=0"
    assert response.headers["Cache-Control"] == expected


def test_head_answers_like_get_without_a_body_or_a_visit(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user)
    with visits_recorded() as calls:
        response = client.head(f"/{slug}")
    assert response.status_code == 302
    assert response.headers["Location"] == TARGET
    assert response.data == b""
    assert calls == []


def test_a_visit_is_announced(app: Flask, client: FlaskClient, make_user: UserFactory) -> None:
    slug = new_link(app, make_user)
    with visits_recorded() as calls:
        client.get(f"/{slug}", headers={"Referer": "https://news.example/"})
    assert len(calls) == 1
    assert calls[0]["sender"] is app
    assert calls[0]["slug"] == slug
    assert calls[0]["request"].headers["Referer"] == "https://news.example/"


@pytest.mark.parametrize("path", ["/no-such-link", "/not.a.slug", "/" + "x" * 65])
def test_unknown_slugs_get_the_404_page(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "There is no short link at this address." in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, max-age=0"


def test_unknown_slug_as_problem_json(client: FlaskClient) -> None:
    response = client.get("/no-such-link", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_apps_own_routes_win_over_slugs(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200


def test_disabled_links_look_unknown(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user)
    with app.app_context():
        update_link(db.session.scalars(db.select(Link).filter_by(slug=slug)).one(), disabled=True)
    assert client.get(f"/{slug}").status_code == 404


def test_expired_links_are_gone(app: Flask, client: FlaskClient, make_user: UserFactory) -> None:
    slug = new_link(app, make_user, expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert client.get(f"/{slug}").status_code == 302
    with app.app_context():  # time passes: written straight to the table, then announced
        db.session.execute(
            update(Link).where(Link.slug == slug).values(expires_at=datetime.now(UTC))
        )
        db.session.commit()
        link_cache.invalidate(slug)
    response = client.get(f"/{slug}")
    assert response.status_code == 410
    assert "This short link has expired." in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, max-age=0"
    assert client.head(f"/{slug}").status_code == 410


def test_max_visits_serves_exactly_that_many(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, max_visits=3)
    assert client.head(f"/{slug}").status_code == 302  # looking is free
    statuses = [client.get(f"/{slug}").status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 410, 410]
    response = client.get(f"/{slug}")
    assert "visit limit" in response.get_data(as_text=True)
    assert client.head(f"/{slug}").status_code == 410


def test_raising_max_visits_lets_the_difference_through(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, max_visits=1)
    assert [client.get(f"/{slug}").status_code for _ in range(2)] == [302, 410]
    with app.app_context():
        update_link(db.session.scalars(db.select(Link).filter_by(slug=slug)).one(), max_visits=2)
    assert [client.get(f"/{slug}").status_code for _ in range(2)] == [302, 410]


def _form_token(client: FlaskClient, slug: str) -> str:
    response = client.get(f"/{slug}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "the password form carries a CSRF token"
    return match.group(1)


def test_password_link_flow(app: Flask, client: FlaskClient, make_user: UserFactory) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    slug = new_link(app, make_user, password="open sesame", redirect_type=307, max_visits=2)
    page = client.get(f"/{slug}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "This link is protected" in html
    assert "example.com" not in html  # the target stays secret
    token = _form_token(client, slug)

    wrong = client.post(f"/{slug}", data={"csrf_token": token, "password": "guess"})
    assert wrong.status_code == 403
    assert "That password is not right." in wrong.get_data(as_text=True)

    empty = client.post(f"/{slug}", data={"csrf_token": token, "password": ""})
    assert empty.status_code == 400

    with visits_recorded() as calls:
        right = client.post(f"/{slug}", data={"csrf_token": token, "password": "open sesame"})
    # 303, whatever the link's type: a 307 would make the browser re-post the password.
    assert right.status_code == 303
    assert right.headers["Location"] == TARGET
    assert [call["slug"] for call in calls] == [slug]
    # Showing the form is no visit; the right password is one.
    assert (
        client.post(f"/{slug}", data={"csrf_token": token, "password": "open sesame"}).status_code
        == 303
    )
    assert (
        client.post(f"/{slug}", data={"csrf_token": token, "password": "open sesame"}).status_code
        == 410
    )


def test_password_form_needs_its_csrf_token(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    slug = new_link(app, make_user, password="open sesame")
    _form_token(client, slug)  # a session with a token exists, but the post lacks it
    missing = client.post(f"/{slug}", data={"password": "open sesame"})
    assert missing.status_code == 400
    forged = client.post(f"/{slug}", data={"csrf_token": "forged", "password": "open sesame"})
    assert forged.status_code == 400
    other_client = app.test_client()  # a token from another session is worth nothing
    token = _form_token(other_client, slug)
    assert (
        client.post(f"/{slug}", data={"csrf_token": token, "password": "open sesame"}).status_code
        == 400
    )


def test_password_attempts_are_rate_limited_per_client_and_link(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    first = new_link(app, make_user, password="open sesame")
    second = new_link(app, make_user, password="open sesame")
    token = _form_token(client, first)
    for _ in range(10):
        response = client.post(f"/{first}", data={"csrf_token": token, "password": "guess"})
        assert response.status_code == 403
    blocked = client.post(f"/{first}", data={"csrf_token": token, "password": "open sesame"})
    assert blocked.status_code == 429
    # Another link, or the same link from another address, has its own budget.
    ok = client.post(f"/{second}", data={"csrf_token": token, "password": "open sesame"})
    assert ok.status_code == 303
    elsewhere = app.test_client()
    token = _form_token(elsewhere, first)
    response = elsewhere.post(
        f"/{first}",
        data={"csrf_token": token, "password": "open sesame"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 303


def test_posting_to_an_ordinary_link_is_not_allowed(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    slug = new_link(app, make_user)
    response = client.post(f"/{slug}", data={"password": "x"})
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_a_redirect_creates_no_session(
    app: Flask, client: FlaskClient, make_user: UserFactory, redis_server: RedisServer
) -> None:
    slug = new_link(app, make_user)
    for path in (f"/{slug}", "/no-such-link"):
        response = client.get(path)
        assert "Set-Cookie" not in response.headers
    assert client.get_cookie("linkfleet_session") is None
    assert redis.Redis.from_url(redis_server.url).keys("linkfleet:session:*") == []


def test_a_cached_link_costs_no_sql(
    app: Flask, client: FlaskClient, make_user: UserFactory, count_queries: QueryCounter
) -> None:
    """Only the first lookup of a link queries it; the domain map (loaded once per process
    and after a domain change or a new subscription) is not a link query."""

    def link_queries() -> int:
        return count_queries.count - count_queries.about("FROM domains")

    slug = new_link(app, make_user, max_visits=100)
    quiesce_link_cache(app)  # the creation's second invalidation, 0.5 s later, would empty L2
    count_queries.statements.clear()
    assert client.get(f"/{slug}").status_code == 302  # fills L1 and L2 from the database
    assert link_queries() == 1
    for _ in range(3):
        assert client.get(f"/{slug}").status_code == 302  # L1
    assert client.get("/no-such-link").status_code == 404  # fills the negative entries
    before = link_queries()
    assert client.get("/no-such-link").status_code == 404
    link_cache.state(app).clear()  # a fresh process: L1 empty, L2 warm
    assert client.get(f"/{slug}").status_code == 302
    assert client.get("/no-such-link").status_code == 404
    assert link_queries() == before, count_queries.statements


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_posting_to_the_apps_get_only_routes_is_still_405(client: FlaskClient, path: str) -> None:
    response = client.post(path)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_posting_to_a_reserved_name_never_reaches_the_password_form(client: FlaskClient) -> None:
    """No route serves /admin, but it can never be a link either: only GET /<slug> is left."""
    response = client.post("/admin")
    assert response.status_code == 405
    assert "POST" not in response.headers["Allow"]


@contextmanager
def full_dispatches(app: Flask) -> Iterator[list[str]]:
    """The paths that went through Flask's dispatch (Flask sends ``request_started``)."""
    paths: list[str] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        from flask import request

        paths.append(request.path)

    request_started.connect(receiver, app)
    try:
        yield paths
    finally:
        request_started.disconnect(receiver, app)


def test_the_lane_takes_cached_plain_links_only(
    app: Flask, client: FlaskClient, make_user: UserFactory, redirect_path: str
) -> None:
    plain = new_link(app, make_user)
    limited = new_link(app, make_user, max_visits=5)
    protected = new_link(app, make_user, password="open sesame")
    expiring = new_link(app, make_user, expires_at=datetime.now(UTC) + timedelta(hours=1))
    quiesce_link_cache(app)  # a creation's late invalidation would empty L1 under the lane
    with full_dispatches(app) as dispatched:
        for slug in (plain, limited, protected, expiring, "no-such-link"):
            client.get(f"/{slug}")
        client.head(f"/{plain}")
        client.get("/healthz")
    through_flask = {f"/{limited}", f"/{protected}", "/no-such-link", "/healthz"}
    if redirect_path == "full-dispatch":
        through_flask |= {f"/{plain}", f"/{expiring}"}
    assert set(dispatched) == through_flask


def test_the_lane_answers_whatever_cookies_the_client_holds(
    app: Flask, client: FlaskClient, make_user: UserFactory, redis_server: RedisServer
) -> None:
    slug = new_link(app, make_user)
    client.set_cookie("linkfleet_session", "not-a-session-anyone-has")
    response = client.get(f"/{slug}", headers={"X-Request-ID": "req-0123456789"})
    assert response.status_code == 302
    assert response.headers["Location"] == TARGET
    assert response.headers["X-Request-ID"] == "req-0123456789"
    assert response.headers["X-Served-By"] == "test-replica"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in response.headers


def test_a_redirect_over_https_carries_hsts(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user)
    response = client.get(f"/{slug}", base_url="https://links.example")
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in client.get(f"/{slug}").headers


def test_both_paths_send_the_same_headers(app: Flask, make_user: UserFactory) -> None:
    """The lane's redirect is header for header the view's. ``Vary: Cookie`` aside: the full
    dispatch adds it when its session machinery touched the session, which a redirect never
    reads, so no cache could serve a different answer by cookie."""
    slug = new_link(app, make_user, redirect_type=301)
    seen = []
    for lane in (None, app.fast_lane):  # type: ignore[attr-defined]
        app.fast_lane = lane  # type: ignore[attr-defined]
        response = app.test_client().get(f"/{slug}", headers={"X-Request-ID": "req-0123456789"})
        seen.append(sorted(item for item in response.headers.items() if item[0] != "Vary"))
    assert seen[0] == seen[1]
