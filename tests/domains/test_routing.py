"""Routing by ``Host``: each domain its own slugs and fallbacks, unknown hosts 404.

Every test runs through Flask's full dispatch and through the redirect lane (each link looked
up once before it is requested, as in tests/links/test_views.py), on SQLite and PostgreSQL,
with the real Redis.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, request_started
from flask.testing import FlaskClient
from sqlalchemy import update

from service.domains.services import get_domain, set_redirects
from service.extensions import db
from service.links.cache import link_cache
from service.links.models import Link
from service.links.services import get_link_for, update_link
from tests.domains.conftest import FALLBACKS, link_on, new_domain
from tests.fixtures.links import quiesce_link_cache
from tests.fixtures.services import wait_until
from tests.fixtures.users import user_with_email

# Every test once through Flask's full dispatch and once through the redirect lane.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("redirect_path")]

GO = "go.example.com"
GO_TLS = "go.example.com:8443"


def get(client: FlaskClient, path: str, host: str = "localhost") -> Any:
    return client.get(path, headers={"Host": host})


def test_the_same_slug_on_three_domains_routes_apart(app: Flask, client: FlaskClient) -> None:
    new_domain(app, GO)
    new_domain(app, GO_TLS)
    link_on(app, "promo", "https://default.example/")
    link_on(app, "promo", "https://go.example/", domain=GO)
    link_on(app, "promo", "https://go-tls.example/", domain="GO.Example.com:8443")
    assert get(client, "/promo").headers["Location"] == "https://default.example/"
    assert get(client, "/promo", GO).headers["Location"] == "https://go.example/"
    assert get(client, "/promo", "GO.EXAMPLE.COM:443").headers["Location"] == "https://go.example/"
    assert get(client, "/promo", GO_TLS).headers["Location"] == "https://go-tls.example/"


def test_a_slug_on_one_domain_is_unknown_on_another(app: Flask, client: FlaskClient) -> None:
    new_domain(app, GO)
    link_on(app, "only-go", "https://go.example/", domain=GO)
    link_on(app, "only-default", "https://default.example/")
    assert get(client, "/only-go").status_code == 404
    assert get(client, "/only-default", GO).status_code == 404
    assert get(client, "/only-go", GO).status_code == 302


def test_an_idn_domain_is_reached_by_its_punycode_host(app: Flask, client: FlaskClient) -> None:
    host = new_domain(app, "bücher.example")
    assert host == "xn--bcher-kva.example"
    link_on(app, "buch", "https://books.example/", domain="BÜCHER.example")
    assert get(client, "/buch", host).headers["Location"] == "https://books.example/"


def test_the_fallbacks_of_a_domain(app: Flask, client: FlaskClient) -> None:
    new_domain(app, GO, **FALLBACKS)
    link_on(app, "soon", "https://go.example/", domain=GO)
    link_on(app, "off", "https://go.example/", domain=GO)
    link_on(app, "once", "https://go.example/", domain=GO, max_visits=1)
    with app.app_context():
        owner = user_with_email("owner@example.com")
        update_link(get_link_for(owner, "off", GO), disabled=True)
        db.session.execute(
            update(Link)
            .where(Link.slug == "soon")
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        db.session.commit()
        link_cache.invalidate(f"{GO}/soon")
    root = get(client, "/", GO)
    assert (root.status_code, root.headers["Location"]) == (302, "https://home.example/")
    missing = get(client, "/nothing-here", GO)
    assert (missing.status_code, missing.headers["Location"]) == (
        302,
        "https://home.example/missing",
    )
    for slug in ("soon", "off"):
        gone = get(client, f"/{slug}", GO)
        assert (gone.status_code, gone.headers["Location"]) == (302, "https://home.example/expired")
    assert get(client, "/once", GO).headers["Location"] == "https://go.example/"
    used_up = get(client, "/once", GO)
    assert (used_up.status_code, used_up.headers["Location"]) == (
        302,
        "https://home.example/expired",
    )
    assert get(client, "/nothing-here").status_code == 404  # the default domain has none


def test_a_domain_without_fallbacks_answers_404_and_serves_links_only(
    app: Flask, client: FlaskClient
) -> None:
    new_domain(app, GO)
    assert get(client, "/", GO).status_code == 404
    assert get(client, "/nothing-here", GO).status_code == 404
    only_links = get(client, "/dashboard", GO)
    assert only_links.status_code == 404
    assert "short links only" in only_links.get_data(as_text=True)
    assert get(client, "/api/v1/links", GO).status_code == 404
    assert get(client, "/healthz", GO).status_code == 200
    style = get(client, "/static/linkfleet.css", GO)  # what the password form's page uses
    assert style.status_code == 200
    style.close()
    assert get(client, "/dashboard").status_code in {200, 302}  # the default host keeps it


def test_a_fallback_change_is_served_at_once(app: Flask, client: FlaskClient) -> None:
    new_domain(app, GO)
    assert get(client, "/", GO).status_code == 404
    with app.app_context():
        set_redirects(get_domain(GO), root_redirect="https://new-home.example/")
    assert get(client, "/", GO).headers["Location"] == "https://new-home.example/"


def test_unknown_hosts_get_the_404_page(make_app: Any) -> None:
    app = make_app(PUBLIC_URL="https://sho.rt")
    app.fast_lane = None
    new_domain(app, GO)
    link_on(app, "promo", "https://default.example/")
    client = app.test_client()
    assert get(client, "/promo", "sho.rt").headers["Location"] == "https://default.example/"
    for path in ("/promo", "/", "/dashboard", "/api/v1/links", "/login"):
        page = get(client, path, "evil.example")
        assert page.status_code == 404, path
        assert "not a domain of this service" in page.get_data(as_text=True)
    assert get(client, "/healthz", "10.1.2.3:8000").status_code == 200


def test_default_host_aliases_serve_the_default_domain(make_app: Any) -> None:
    """``DEFAULT_HOST_ALIASES`` (``nginx:8080`` for the containers of a compose network) are
    names of the default domain; other hosts still get the 404 page."""
    app = make_app(PUBLIC_URL="https://sho.rt", DEFAULT_HOST_ALIASES=("nginx:8080", "LB"))
    app.fast_lane = None
    link_on(app, "promo", "https://default.example/")
    client = app.test_client()
    for host in ("sho.rt", "nginx:8080", "lb"):
        assert get(client, "/promo", host).headers["Location"] == "https://default.example/"
    assert get(client, "/promo", "nginx:8081").status_code == 404


def test_without_a_public_url_every_other_host_is_the_default(
    app: Flask, client: FlaskClient
) -> None:
    link_on(app, "promo", "https://default.example/")
    for host in ("localhost", "127.0.0.1:8080", "links.internal"):
        assert get(client, "/promo", host).headers["Location"] == "https://default.example/"


def test_a_domain_added_on_one_replica_routes_on_another_within_a_second(
    app: Flask, replica_factory: Any
) -> None:
    other = replica_factory()
    other.fast_lane = None
    client = other.test_client()
    link_on(app, "promo", "https://default.example/")
    assert get(client, "/promo", GO).headers["Location"] == "https://default.example/"
    wait_until(lambda: link_cache.listening(other), 10, "replica 2 listening")
    new_domain(app, GO)
    link_on(app, "promo", "https://go.example/", domain=GO)
    wait_until(
        lambda: get(client, "/promo", GO).headers.get("Location") == "https://go.example/",
        1.0,
        "replica 2 routing the new domain",
    )
    with app.app_context():
        set_redirects(get_domain(GO), not_found_redirect="https://go.example/404")
    wait_until(
        lambda: get(client, "/nope", GO).headers.get("Location") == "https://go.example/404",
        1.0,
        "replica 2 serving the new fallback",
    )


def test_the_lane_serves_cached_links_of_every_known_domain(
    app: Flask, client: FlaskClient, redirect_path: str
) -> None:
    """The lane and the view agree on (domain, slug); unknown hosts always reach the view."""
    new_domain(app, GO)
    link_on(app, "promo", "https://default.example/")
    link_on(app, "promo", "https://go.example/", domain=GO)
    quiesce_link_cache(app)
    dispatched: list[str] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        from flask import request

        dispatched.append(request.host)

    request_started.connect(receiver, app)
    try:
        answers = {
            host: get(client, "/promo", host).headers.get("Location")
            for host in ("localhost", GO, "GO.example.com")
        }
    finally:
        request_started.disconnect(receiver, app)
    assert answers == {
        "localhost": "https://default.example/",
        GO: "https://go.example/",
        "GO.example.com": "https://go.example/",
    }
    expected = set() if redirect_path == "redirect-lane" else {"localhost", GO, "GO.example.com"}
    assert set(dispatched) == expected


def test_x_forwarded_host_is_not_believed(app: Flask, client: FlaskClient) -> None:
    """Only ``Host`` picks the domain: a client cannot reach another domain's link (or dodge
    the unknown-host 404) by sending ``X-Forwarded-Host``."""
    new_domain(app, GO)
    link_on(app, "promo", "https://default.example/")
    link_on(app, "promo", "https://go.example/", domain=GO)
    forged = client.get("/promo", headers={"Host": "localhost", "X-Forwarded-Host": GO})
    assert forged.headers["Location"] == "https://default.example/"
