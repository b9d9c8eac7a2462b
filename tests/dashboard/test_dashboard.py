"""The dashboard through its HTML forms (CSRF enabled), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from service.accounts.models import User
from service.extensions import db
from service.links.models import Link
from service.links.services import create_link
from tests.fixtures.users import WebHelper

LinkMaker = Callable[..., str]


@pytest.fixture
def make_link(app: Flask) -> LinkMaker:
    """Create a link through the links service; returns its slug."""

    def make(owner_id: int, url: str = "https://example.com/page", **options: Any) -> str:
        with app.app_context():
            owner = db.session.get(User, owner_id)
            return create_link(owner, url=url, **options).slug

    return make


@pytest.fixture
def alice(web: WebHelper, client: FlaskClient) -> int:
    """Alice exists and ``client`` is logged in as her."""
    user_id = web.create_user("alice@example.com")
    web.log_in(client, "alice@example.com")
    return user_id


def slugs_on(page: str) -> list[str]:
    return re.findall(r'class="slug" href="/dashboard/links/([^"]+)"', page)


def link_exists(app: Flask, slug: str) -> bool:
    with app.app_context():
        return db.session.scalar(db.select(Link).where(Link.slug == slug)) is not None


def test_dashboard_requires_login(client: FlaskClient) -> None:
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fdashboard"


def test_empty_dashboard(client: FlaskClient, alice: int) -> None:
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Your links" in page
    assert "No links yet" in page


def test_create_link_through_the_form(
    app: Flask, client: FlaskClient, web: WebHelper, alice: int
) -> None:
    response = web.submit(
        client,
        "/dashboard/new",
        {
            "url": "https://example.com/docs/start",
            "slug": "docs",
            "title": "The docs",
            "tags": "docs, python, docs",
            "redirect_type": "301",
            "expires_at": "",
            "max_visits": "",
            "password": "",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/dashboard/links/docs"
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == "docs"))
        assert link.url == "https://example.com/docs/start"
        assert link.redirect_type == 301
        assert sorted(tag.name for tag in link.tags) == ["docs", "python"]
        assert link.owner_id == alice

    page = client.get("/dashboard/links/docs").get_data(as_text=True)
    assert "Created http://localhost/docs" in page  # flash message
    assert 'value="http://localhost/docs" readonly' in page  # selectable without JS
    assert 'data-copy-target="short-url" hidden' in page  # the JS button starts hidden
    assert re.search(r"<svg viewBox=\"[0-9 ]+\" class=\"qr\">", page)
    assert "style=" not in page  # CSP: no inline style
    assert re.search(r"<script(?![^>]*\ssrc=)", page) is None  # CSP: no inline script


def test_create_with_options(app: Flask, client: FlaskClient, web: WebHelper, alice: int) -> None:
    response = web.submit(
        client,
        "/dashboard/new",
        {
            "url": "https://example.com/secret",
            "slug": "",
            "redirect_type": "307",
            "expires_at": "2099-01-02T03:04",
            "max_visits": "5",
            "password": "open sesame",
        },
    )
    assert response.status_code == 302
    slug = response.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == slug))
        assert len(slug) == 7
        assert link.redirect_type == 307
        assert link.max_visits == 5
        assert link.expires_at is not None
        assert (link.expires_at.year, link.expires_at.hour, link.expires_at.minute) == (2099, 3, 4)
        assert link.password_hash


def test_the_switches_of_the_form(
    app: Flask, client: FlaskClient, web: WebHelper, alice: int
) -> None:
    form = client.get("/dashboard/new").get_data(as_text=True)
    assert 'name="forward_query"' in form
    assert 'name="crawlable"' in form
    fields = {"url": "https://example.com/", "slug": "sw", "forward_query": "y"}
    response = web.submit(client, "/dashboard/new", fields)
    assert response.status_code == 302
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == "sw"))
        assert (link.forward_query, link.crawlable) == (True, False)
    detail = client.get("/dashboard/links/sw").get_data(as_text=True)
    assert "<dt>Forward the query string</dt><dd>yes</dd>" in detail
    assert "<dt>Let search engines crawl it</dt><dd>no</dd>" in detail
    assert client.get("/sw?a=1").headers["Location"] == "https://example.com/?a=1"
    edited = web.submit(
        client,
        "/dashboard/links/sw/edit",
        {"url": "https://example.com/", "slug": "sw", "redirect_type": "302", "crawlable": "y"},
    )
    assert edited.status_code == 302, edited.get_data(as_text=True)
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == "sw"))
        assert (link.forward_query, link.crawlable) == (False, True)


#: Set when the app is made: changed on a serving app, PUBLIC_URL would move the default
#: domain off the test client's host whenever the domain map is next rebuilt.
@pytest.mark.parametrize(
    "app_config", [{"PUBLIC_URL": "https://sho.rt", "DEFAULT_HOST_ALIASES": ("localhost",)}]
)
def test_short_url_uses_public_url(
    app: Flask, client: FlaskClient, alice: int, make_link: LinkMaker
) -> None:
    make_link(alice, slug="pub")
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'value="https://sho.rt/pub"' in page


@pytest.mark.parametrize(
    ("data", "status", "field", "message"),
    [
        ({"url": "javascript:alert(1)"}, 422, "url", ""),
        ({"url": "https://example.com/", "slug": "bad slug!"}, 422, "slug", ""),
        ({"url": "https://example.com/", "slug": "dashboard"}, 422, "slug", ""),
        ({"url": "https://example.com/", "slug": "taken"}, 409, "slug", "already taken"),
        ({"url": "https://example.com/", "max_visits": "0"}, 422, "max_visits", "at least 1"),
        ({"url": ""}, 422, "url", ""),
    ],
)
def test_create_shows_field_errors(
    client: FlaskClient,
    web: WebHelper,
    alice: int,
    make_link: LinkMaker,
    data: dict[str, str],
    status: int,
    field: str,
    message: str,
) -> None:
    make_link(alice, slug="taken")
    response = web.submit(client, "/dashboard/new", data)
    assert response.status_code == status
    page = response.get_data(as_text=True)
    errors = re.findall(rf'<p class="field-error" id="{field}-error">([^<]+)</p>', page)
    assert errors, page
    assert message in errors[0]
    assert f'id="{field}"' in page


def test_list_search_and_tag_filter(client: FlaskClient, alice: int, make_link: LinkMaker) -> None:
    make_link(alice, url="https://python.org/downloads", slug="py", title="Python", tags=["lang"])
    make_link(alice, url="https://flask.palletsprojects.com/", slug="flask", tags=["web", "lang"])
    make_link(alice, url="https://example.com/100%_sure", slug="odd", title="Odd one")

    assert set(slugs_on(client.get("/dashboard").get_data(as_text=True))) == {"py", "flask", "odd"}
    assert slugs_on(client.get("/dashboard?q=PYTHON").get_data(as_text=True)) == ["py"]
    assert slugs_on(client.get("/dashboard?q=pallets").get_data(as_text=True)) == ["flask"]
    assert slugs_on(client.get("/dashboard?q=odd+one").get_data(as_text=True)) == ["odd"]
    # LIKE wildcards are literal characters in a search.
    assert slugs_on(client.get("/dashboard?q=%25").get_data(as_text=True)) == ["odd"]
    assert slugs_on(client.get("/dashboard?q=_").get_data(as_text=True)) == ["odd"]
    assert set(slugs_on(client.get("/dashboard?tag=lang").get_data(as_text=True))) == {
        "py",
        "flask",
    }
    assert slugs_on(client.get("/dashboard?tag=web&q=flask").get_data(as_text=True)) == ["flask"]
    page = client.get("/dashboard?q=nothing-like-this").get_data(as_text=True)
    assert "No links match" in page
    page = client.get("/dashboard").get_data(as_text=True)
    assert '<option value="lang">' in page
    assert '<option value="web">' in page


def test_sort(client: FlaskClient, alice: int, make_link: LinkMaker) -> None:
    for slug in ("bravo", "alpha", "charlie"):
        make_link(alice, slug=slug)
    assert slugs_on(client.get("/dashboard").get_data(as_text=True)) == [
        "charlie",
        "alpha",
        "bravo",
    ]
    assert slugs_on(client.get("/dashboard?sort=oldest").get_data(as_text=True)) == [
        "bravo",
        "alpha",
        "charlie",
    ]
    assert slugs_on(client.get("/dashboard?sort=slug").get_data(as_text=True)) == [
        "alpha",
        "bravo",
        "charlie",
    ]
    assert slugs_on(client.get("/dashboard?sort=-slug").get_data(as_text=True)) == [
        "charlie",
        "bravo",
        "alpha",
    ]
    assert slugs_on(client.get("/dashboard?sort=evil;drop").get_data(as_text=True)) == [
        "charlie",
        "alpha",
        "bravo",
    ]


def test_pagination(client: FlaskClient, alice: int, make_link: LinkMaker) -> None:
    for number in range(25):
        make_link(alice, slug=f"link-{number:02d}")
    page = client.get("/dashboard?sort=slug&per_page=10").get_data(as_text=True)
    assert slugs_on(page) == [f"link-{n:02d}" for n in range(10)]
    assert "25 links" in page
    assert "page 1 of 3" in page
    assert 'href="/dashboard?sort=slug&amp;per_page=10&amp;page=2" rel="next"' in page
    assert 'href="/dashboard?sort=slug&amp;per_page=10&amp;page=3"' in page

    page = client.get("/dashboard?sort=slug&per_page=10&page=3").get_data(as_text=True)
    assert slugs_on(page) == [f"link-{n:02d}" for n in range(20, 25)]
    assert 'rel="prev"' in page

    # Out-of-range and junk values are clamped, never an error.
    page = client.get("/dashboard?sort=slug&per_page=10&page=99").get_data(as_text=True)
    assert slugs_on(page) == [f"link-{n:02d}" for n in range(20, 25)]
    assert len(slugs_on(client.get("/dashboard?per_page=100000").get_data(as_text=True))) == 25
    assert len(slugs_on(client.get("/dashboard?per_page=0").get_data(as_text=True))) == 1
    assert len(slugs_on(client.get("/dashboard?per_page=x&page=-3").get_data(as_text=True))) == 20


def test_edit_link(
    app: Flask, client: FlaskClient, web: WebHelper, alice: int, make_link: LinkMaker
) -> None:
    make_link(alice, url="https://example.com/old", slug="ed", tags=["a"], password="link password")
    page = client.get("/dashboard/links/ed/edit").get_data(as_text=True)
    assert 'value="https://example.com/old"' in page
    assert 'name="remove_password"' in page
    assert "link password" not in page

    response = web.submit(
        client,
        "/dashboard/links/ed/edit",
        {
            "url": "https://example.com/new",
            "slug": "ed",
            "title": "Edited",
            "tags": "b, c",
            "redirect_type": "302",
            "remove_password": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/dashboard/links/ed"
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == "ed"))
        assert link.url == "https://example.com/new"
        assert link.title == "Edited"
        assert [tag.name for tag in link.tags] == ["b", "c"]
        assert link.password_hash is None
    assert "Saved http://localhost/ed" in client.get("/dashboard/links/ed").get_data(as_text=True)


def test_edit_shows_field_errors(
    client: FlaskClient, web: WebHelper, alice: int, make_link: LinkMaker
) -> None:
    make_link(alice, slug="ed")
    response = web.submit(
        client,
        "/dashboard/links/ed/edit",
        {"url": "file:///etc/passwd", "slug": "ed", "redirect_type": "302"},
    )
    assert response.status_code == 422
    assert 'id="url-error"' in response.get_data(as_text=True)


def test_delete_link(
    app: Flask, client: FlaskClient, web: WebHelper, alice: int, make_link: LinkMaker
) -> None:
    make_link(alice, slug="gone")
    confirm = client.get("/dashboard/links/gone/delete")
    assert confirm.status_code == 200
    assert "Delete “gone”?" in confirm.get_data(as_text=True)
    assert link_exists(app, "gone")  # GET only asks
    assert client.post("/dashboard/links/gone/delete").status_code == 400  # no CSRF token
    assert link_exists(app, "gone")

    response = web.submit(client, "/dashboard/links/gone/delete", {})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert not link_exists(app, "gone")
    assert "Deleted the link “gone”." in client.get("/dashboard").get_data(as_text=True)
    assert client.get("/dashboard/links/gone").status_code == 404


def test_qr_download(client: FlaskClient, alice: int, make_link: LinkMaker) -> None:
    make_link(alice, slug="qr")
    response = client.get("/dashboard/links/qr/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert b"<svg" in response.data
    assert "qr-qr.svg" in response.headers["Content-Disposition"]


def test_idor_other_users_links_are_invisible(
    app: Flask, web: WebHelper, make_link: LinkMaker
) -> None:
    alice = web.create_user("alice@example.com")
    web.create_user("bob@example.com")
    make_link(alice, slug="alices", url="https://example.com/private")
    bob = app.test_client()
    web.log_in(bob, "bob@example.com")

    assert slugs_on(bob.get("/dashboard").get_data(as_text=True)) == []
    page = bob.get("/dashboard?q=alices").get_data(as_text=True)
    assert slugs_on(page) == []
    assert "No links match" in page
    for path in (
        "/dashboard/links/alices",
        "/dashboard/links/alices/edit",
        "/dashboard/links/alices/delete",
        "/dashboard/links/alices/qr.svg",
    ):
        response = bob.get(path)
        assert response.status_code == 404, path
        assert "private" not in response.get_data(as_text=True)

    token = web.csrf(bob, "/dashboard/new")
    edit = bob.post(
        "/dashboard/links/alices/edit",
        data={
            "csrf_token": token,
            "url": "https://evil.example/",
            "slug": "alices",
            "redirect_type": "302",
        },
    )
    assert edit.status_code == 404
    assert bob.post("/dashboard/links/alices/delete", data={"csrf_token": token}).status_code == 404
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == "alices"))
        assert link.url == "https://example.com/private"


def test_admin_sees_and_changes_every_link(
    app: Flask, web: WebHelper, make_link: LinkMaker
) -> None:
    alice = web.create_user("alice@example.com")
    web.create_user("root@example.com", admin=True)
    make_link(alice, slug="alices", url="https://example.com/a")
    admin = app.test_client()
    web.log_in(admin, "root@example.com")

    page = admin.get("/dashboard").get_data(as_text=True)
    assert "All links" in page
    assert "alices" in page
    assert "alice@example.com" in page  # owner column
    assert admin.get("/dashboard/links/alices").status_code == 200

    response = web.submit(
        admin,
        "/dashboard/links/alices/edit",
        {"url": "https://example.com/b", "slug": "alices", "redirect_type": "302"},
    )
    assert response.status_code == 302
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == "alices"))
        assert link.url == "https://example.com/b"
        assert link.owner_id == alice  # the admin edits, the owner stays

    assert web.submit(admin, "/dashboard/links/alices/delete", {}).status_code == 302
    assert not link_exists(app, "alices")


def test_friendly_error_pages(client: FlaskClient, alice: int) -> None:
    response = client.get("/dashboard/links/does-not-exist")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<h1>404" in page
    assert "Dashboard" in page  # the page keeps the site's navigation


def test_disable_and_enable_a_link(
    app: Flask, client: FlaskClient, web: WebHelper, alice: int, make_link: LinkMaker
) -> None:
    make_link(alice, slug="pause", url="https://example.com/paused")
    assert client.get("/pause").status_code == 302
    form = {"url": "https://example.com/paused", "slug": "pause", "redirect_type": "302"}
    response = web.submit(client, "/dashboard/links/pause/edit", {**form, "disabled": "y"})
    assert response.status_code == 302
    assert client.get("/pause").status_code == 404
    page = client.get("/dashboard").get_data(as_text=True)
    assert '<tr class="disabled">' in page
    response = web.submit(client, "/dashboard/links/pause/edit", form)
    assert response.status_code == 302
    assert client.get("/pause").status_code == 302
    with app.app_context():
        assert not db.session.scalar(db.select(Link.disabled).where(Link.slug == "pause"))


# -- clicks and the statistics pages ------------------------------------------------------------


def _record_clicks(app: Flask, slug: str, count: int) -> None:
    """What the analytics worker writes: an hourly aggregate of the link."""
    from datetime import UTC, datetime

    from service.analytics.models import HourlyVisits

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        link_id = db.session.scalar(db.select(Link.id).where(Link.slug == slug))
        db.session.add(HourlyVisits(link_id=link_id, hour=hour, visits=count))
        db.session.commit()


def test_the_list_and_the_detail_show_clicks_and_link_the_stats(
    app: Flask, client: FlaskClient, alice: int, make_link: LinkMaker
) -> None:
    from service.links import visits

    make_link(alice, slug="counted")
    make_link(alice, slug="limited", max_visits=10)
    _record_clicks(app, "counted", 42)
    _record_clicks(app, "limited", 3)
    with app.app_context():
        limited = db.session.scalar(select(Link.id).where(Link.slug == "limited"))
        assert visits.consume_visit(limited, 10)
    page = client.get("/dashboard").get_data(as_text=True)
    assert re.search(
        r'data-label="Clicks" class="num"><a href="/dashboard/links/counted/stats"[^>]*>42</a>',
        page,
    )
    assert re.search(
        r'data-label="Clicks" class="num"><a href="/dashboard/links/limited/stats"[^>]*>3</a>', page
    )
    assert "1&nbsp;/&nbsp;10" in page  # the visit limit's own counter
    assert page.count('href="/dashboard/links/counted/stats"') == 2  # the count and "Stats"
    assert 'href="/dashboard/stats"' in page  # the navigation
    detail = client.get("/dashboard/links/limited").get_data(as_text=True)
    assert '<dt>Clicks</dt><dd><a href="/dashboard/links/limited/stats">3</a></dd>' in detail
    assert "1 of 10 used" in detail
    assert ">Statistics</a>" in detail
    assert client.get("/dashboard/links/counted/stats").status_code == 200
    assert client.get("/dashboard/stats").status_code == 200


def test_every_page_links_the_statistics_from_the_navigation(
    client: FlaskClient, alice: int, make_link: LinkMaker
) -> None:
    make_link(alice, slug="nav")
    for path in ("/dashboard", "/dashboard/new", "/dashboard/links/nav", "/dashboard/stats"):
        page = client.get(path).get_data(as_text=True)
        assert re.search(
            r'<nav class="site-nav">.*href="/dashboard/stats">Statistics</a>', page, re.S
        ), path
