"""The link preview ``/<slug>+`` through the test client, on real Redis and both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from service import signals
from service.accounts.models import User
from service.extensions import db
from service.links import visits
from service.links.cache import link_cache
from service.links.models import Link
from service.links.services import create_link, update_link
from service.redirect_lane import RedirectLane
from tests.fixtures.links import quiesce_link_cache
from tests.fixtures.users import UserFactory, WebHelper

pytestmark = pytest.mark.integration

TARGET = "https://example.com/landing?from=short"


def new_link(app: Flask, make_user: UserFactory, **fields: Any) -> Link:
    fields.setdefault("url", TARGET)
    with app.app_context():
        link = create_link(make_user(), **fields)
        db.session.expunge(link)
        return link


@contextmanager
def visits_sent(app: Flask) -> Iterator[list[str]]:
    """The slugs of every ``link_visited`` the app sends meanwhile."""
    sent: list[str] = []

    def record(_sender: Any, **kwargs: Any) -> None:
        sent.append(kwargs["slug"])

    signals.link_visited.connect(record, app)
    try:
        yield sent
    finally:
        signals.link_visited.disconnect(record, app)


def test_preview_shows_target_title_qr_and_continue(app: Flask, make_user: UserFactory) -> None:
    new_link(app, make_user, slug="promo", title="Summer <sale>")
    response = app.test_client().get("/promo+")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "https://example.com/landing?from=short" in html
    assert "Summer &lt;sale&gt;" in html  # escaped
    assert re.search(r'<svg viewBox="[0-9 ]+" class="qr"><path class="qr-line"', html)
    assert '<a class="button primary" href="http://localhost/promo"' in html
    assert ">Continue</a>" in html
    assert response.headers["Cache-Control"] == "private, max-age=0"


def test_preview_carries_the_security_headers_of_every_page(
    app: Flask, make_user: UserFactory
) -> None:
    new_link(app, make_user, slug="promo")
    client = app.test_client()
    page = client.get("/promo+")
    other = client.get("/login")
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert page.headers[header] == other.headers[header], header


def test_preview_counts_no_visit(app: Flask, make_user: UserFactory) -> None:
    link = new_link(app, make_user, slug="limited", max_visits=1)
    client = app.test_client()
    with visits_sent(app) as sent:
        for _ in range(3):
            assert client.get("/limited+").status_code == 200
        assert sent == []
        with app.app_context():
            assert visits.has_visits_left(link.id, 1)
        assert client.get("/limited").status_code == 302  # the one visit is still there
        assert sent == ["limited"]


def test_a_used_up_link_has_no_preview(app: Flask, make_user: UserFactory) -> None:
    new_link(app, make_user, slug="once", max_visits=1)
    client = app.test_client()
    assert client.get("/once").status_code == 302
    assert client.get("/once+").status_code == 404


def test_a_protected_link_does_not_reveal_its_target(app: Flask, make_user: UserFactory) -> None:
    new_link(app, make_user, slug="secret", title="Board minutes", password="open sesame")
    client = app.test_client()
    response = client.get("/secret+")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "This link is protected" in html
    assert "example.com/landing" not in html
    assert "Board minutes" not in html
    assert 'href="http://localhost/secret"' in html  # the normal flow asks for the password
    assert "Enter the password" in client.get("/secret").get_data(as_text=True)


@pytest.mark.parametrize("case", ["unknown", "disabled", "expired"])
def test_no_preview_of_links_that_cannot_be_followed(
    app: Flask, make_user: UserFactory, case: str
) -> None:
    if case != "unknown":
        link = new_link(app, make_user, slug="gone")
        with app.app_context():
            row = db.session.get(Link, link.id)
            assert row is not None
            if case == "disabled":
                update_link(row, disabled=True)
            else:
                row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
                db.session.commit()
                link_cache.invalidate("gone")
    response = app.test_client().get("/gone+", headers={"Accept": "text/html"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "There is no short link at this address." in html
    assert "example.com/landing" not in html
    assert "Traceback" not in html


@pytest.mark.parametrize("path", ["/a+b+", "/promo++", "/+", "/pro%2Bmo+"])
def test_malformed_previews_are_a_friendly_404(
    app: Flask, make_user: UserFactory, path: str
) -> None:
    new_link(app, make_user, slug="promo")
    response = app.test_client().get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "<html" in response.get_data(as_text=True)


def test_the_redirect_lane_leaves_previews_to_flask(app: Flask, make_user: UserFactory) -> None:
    """Even with the link hot in L1, where the lane serves ``/promo``, it returns None for
    ``/promo+`` (no slug has a ``+``), and Flask answers the preview."""
    new_link(app, make_user, slug="promo")
    # Subscribing clears L1, and the creation's delayed re-invalidation evicts the slug:
    # both before the lookup.
    quiesce_link_cache(app)
    with app.test_request_context():
        assert link_cache.lookup("promo") is not None
    lane = RedirectLane(app)  # type: ignore[arg-type]
    started: list[str] = []

    def start_response(status: str, _headers: list[tuple[str, str]]) -> None:
        started.append(status)

    with visits_sent(app) as sent:
        assert lane(EnvironBuilder(path="/promo+").get_environ(), start_response) is None
        assert lane(EnvironBuilder(path="/promo").get_environ(), start_response) is not None
        assert (started, sent) == (["302 FOUND"], ["promo"])
    assert app.test_client().get("/promo+").status_code == 200


def test_the_dashboard_detail_page_links_to_the_preview(app: Flask, web: WebHelper) -> None:
    user_id = web.create_user("preview@example.com")
    client = app.test_client()
    web.log_in(client, "preview@example.com")
    with app.app_context():
        owner = db.session.get(User, user_id)
        create_link(owner, url=TARGET, slug="mine")
    html = client.get("/dashboard/links/mine").get_data(as_text=True)
    assert 'href="/mine+"' in html
