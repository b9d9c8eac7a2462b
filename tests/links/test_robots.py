"""``GET /robots.txt``: each domain allows its crawlable links and disallows the rest, on
real Redis and both databases."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from service.extensions import db
from service.links.models import Link
from service.links.robots import HEADER
from service.links.services import update_link
from tests.domains.conftest import link_on, new_domain
from tests.fixtures.app import QueryCounter

pytestmark = [pytest.mark.integration]

GO = "go.example.com"


def robots(app: Flask, host: str = "sho.rt") -> Any:
    return app.test_client().get("/robots.txt", headers={"Host": host})


def test_only_crawlable_links_of_the_domain_are_allowed(make_app: Any) -> None:
    app = make_app(PUBLIC_URL="https://sho.rt")
    new_domain(app, GO)
    link_on(app, "zeta", "https://example.com/z", crawlable=True)
    link_on(app, "alpha", "https://example.com/a", crawlable=True)
    link_on(app, "hidden", "https://example.com/h")
    off = link_on(app, "off", "https://example.com/o", crawlable=True)
    link_on(app, "elsewhere", "https://example.com/e", domain=GO, crawlable=True)
    link_on(app, "zeta", "https://example.com/go-z", domain=GO)
    with app.app_context():
        update_link(db.session.get(Link, off), disabled=True)

    answer = robots(app)
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    # "$" ends each path: "Allow: /alpha" alone would also allow /alphabet and /alpha+.
    assert answer.get_data(as_text=True) == (
        f"{HEADER}\nUser-agent: *\nAllow: /alpha$\nAllow: /zeta$\nDisallow: /\n"
    )
    on_go = robots(app, GO)
    assert on_go.status_code == 200  # an added domain serves it beside its links
    assert on_go.get_data(as_text=True) == (
        f"{HEADER}\nUser-agent: *\nAllow: /elsewhere$\nDisallow: /\n"
    )
    assert robots(app, "evil.example").status_code == 404  # the host gate's answer


def test_without_crawlable_links_everything_is_disallowed(app: Flask) -> None:
    link_on(app, "promo", "https://example.com/")
    answer = app.test_client().get("/robots.txt")
    assert answer.get_data(as_text=True) == f"{HEADER}\nUser-agent: *\nDisallow: /\n"
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert app.test_client().head("/robots.txt").status_code == 200


def test_the_body_is_kept_for_robots_cache_seconds(app: Flask, count_queries: QueryCounter) -> None:
    link_id = link_on(app, "promo", "https://example.com/")
    client = app.test_client()
    first = client.get("/robots.txt").get_data(as_text=True)
    count_queries.statements.clear()
    with app.app_context():
        update_link(db.session.get(Link, link_id), crawlable=True)
    count_queries.statements.clear()
    assert client.get("/robots.txt").get_data(as_text=True) == first
    assert count_queries.about("links") == 0  # a flood of robots.txt costs no query each
    app.config["ROBOTS_CACHE_SECONDS"] = 0
    app.extensions["linkfleet.robots"].clear()
    assert "Allow: /promo$\n" in client.get("/robots.txt").get_data(as_text=True)
