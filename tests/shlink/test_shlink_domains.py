"""Domains through Shlink's API: the domain list, their redirects, short URLs and visit
lists on an added domain (docs/SHLINK.md), on SQLite and PostgreSQL with the real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.domains.conftest import FALLBACKS, link_on, new_domain
from tests.fixtures.accounts import AccountFactory
from tests.shlink.conftest import ShlinkClient, problem_of

pytestmark = pytest.mark.integration

GO = "go.example.com"
GO_TLS = "go.example.com:8443"
NOTHING = {"baseUrlRedirect": None, "regular404Redirect": None, "invalidShortUrlRedirect": None}


@pytest.fixture
def admin(client: FlaskClient, make_account: AccountFactory) -> ShlinkClient:
    return ShlinkClient(client, make_account("root@example.com", admin=True))


def _patch(shlink: ShlinkClient, **body: Any) -> Any:
    return shlink.request("PATCH", "/domains/redirects", json=body)


def test_every_domain_is_listed_default_first(app: Flask, shlink: ShlinkClient) -> None:
    new_domain(app, GO_TLS)
    new_domain(app, GO, **FALLBACKS)
    assert shlink.request("GET", "/domains").get_json() == {
        "domains": {
            "data": [
                {"domain": "localhost", "isDefault": True, "redirects": NOTHING},
                {
                    "domain": GO,
                    "isDefault": False,
                    "redirects": {
                        "baseUrlRedirect": "https://home.example/",
                        "regular404Redirect": None,
                        "invalidShortUrlRedirect": "https://home.example/missing",
                    },
                },
                {"domain": GO_TLS, "isDefault": False, "redirects": NOTHING},
            ],
            "defaultRedirects": NOTHING,
        }
    }


def test_an_admin_sets_merges_and_clears_redirects(
    app: Flask, client: FlaskClient, admin: ShlinkClient
) -> None:
    new_domain(app, GO, expired_redirect="https://home.example/expired")
    answer = _patch(
        admin,
        domain="GO.Example.com",
        baseUrlRedirect="https://home.example/",
        invalidShortUrlRedirect="https://home.example/missing",
    )
    assert answer.status_code == 200
    assert answer.get_json() == {
        "baseUrlRedirect": "https://home.example/",
        "regular404Redirect": None,
        "invalidShortUrlRedirect": "https://home.example/missing",
    }
    root = client.get("/", headers={"Host": GO})
    assert (root.status_code, root.headers["Location"]) == (302, "https://home.example/")
    missing = client.get("/nothing-here", headers={"Host": GO})
    assert missing.headers["Location"] == "https://home.example/missing"
    # left out: kept; null or empty: removed; LinkFleet's expired_redirect is never touched
    cleared = _patch(admin, domain=GO, baseUrlRedirect=None, regular404Redirect=None)
    assert cleared.get_json()["baseUrlRedirect"] is None
    assert cleared.get_json()["invalidShortUrlRedirect"] == "https://home.example/missing"
    assert _patch(admin, domain=GO, invalidShortUrlRedirect="").get_json() == NOTHING
    assert client.get("/", headers={"Host": GO}).status_code == 404
    assert admin.client.get(
        "/api/v1/domains/go.example.com", headers={"Authorization": f"Bearer {admin.account.key}"}
    ).get_json()["expired_redirect"] == ("https://home.example/expired")


def test_the_default_domain_has_no_redirects(admin: ShlinkClient) -> None:
    for name in ("localhost", "DEFAULT"):
        assert _patch(admin, domain=name, **NOTHING).get_json() == NOTHING
    refused = _patch(admin, domain="localhost", baseUrlRedirect="https://example.org/")
    body = problem_of(refused, 400, "invalid-data")
    assert body["invalidElements"] == ["baseUrlRedirect"]
    assert "start page" in body["errors"]["baseUrlRedirect"]


@pytest.mark.parametrize(
    ("body", "element"),
    [
        ({"invalidShortUrlRedirect": "javascript:alert(1)"}, "invalidShortUrlRedirect"),
        ({"baseUrlRedirect": "ftp://files.example/"}, "baseUrlRedirect"),
        ({"baseUrlRedirect": 7}, "baseUrlRedirect"),
        ({"regular404Redirect": "https://home.example/404"}, "regular404Redirect"),
        ({"domain": None}, "domain"),
        ({"domain": ["go.example.com"]}, "domain"),
    ],
)
def test_bad_redirects_are_invalid_data(
    app: Flask, admin: ShlinkClient, body: dict[str, Any], element: str
) -> None:
    new_domain(app, GO)
    refused = _patch(admin, **{"domain": GO, **body})
    assert problem_of(refused, 400, "invalid-data")["invalidElements"] == [element]
    assert _patch(admin, domain=GO).get_json() == NOTHING  # nothing was changed


def test_an_unknown_domain_is_domain_not_found(admin: ShlinkClient) -> None:
    body = problem_of(_patch(admin, domain="nowhere.example"), 404, "domain-not-found")
    assert body["authority"] == "nowhere.example"
    assert body["detail"] == 'Domain with authority "nowhere.example" could not be found'


def test_only_an_administrators_write_key_edits_redirects(
    app: Flask, shlink: ShlinkClient, admin: ShlinkClient
) -> None:
    new_domain(app, GO)
    forbidden = _patch(shlink, domain=GO, baseUrlRedirect="https://home.example/")
    assert "administrator" in problem_of(forbidden, 403)["detail"]
    read_only = admin.request(
        "PATCH", "/domains/redirects", key=admin.account.read_key, json={"domain": GO}
    )
    problem_of(read_only, 403)
    assert shlink.request("GET", "/domains").status_code == 200  # every key lists them


def test_short_urls_on_a_second_domain(app: Flask, shlink: ShlinkClient) -> None:
    new_domain(app, GO)
    on_go = shlink.create(
        longUrl="https://go.example/", customSlug="promo", domain="GO.example.com"
    )
    on_default = shlink.create(longUrl="https://default.example/", customSlug="promo")
    assert (on_go["domain"], on_go["shortUrl"]) == (GO, "http://go.example.com/promo")
    assert (on_default["domain"], on_default["shortUrl"]) == (None, "http://localhost/promo")
    taken = shlink.request(
        "POST",
        "/short-urls",
        json={"longUrl": "https://x.example/", "customSlug": "promo", "domain": GO},
    )
    problem_of(taken, 400, "non-unique-slug")

    assert shlink.request("GET", "/short-urls/promo").get_json()["longUrl"] == (
        "https://default.example/"
    )
    assert shlink.request("GET", f"/short-urls/promo?domain={GO}").get_json()["domain"] == GO
    edited = shlink.request("PATCH", f"/short-urls/promo?domain={GO}", json={"title": "Go"})
    assert (edited.get_json()["title"], edited.get_json()["domain"]) == ("Go", GO)
    assert shlink.request("GET", "/short-urls/promo?domain=DEFAULT").get_json()["title"] is None
    rules = {
        "redirectRules": [
            {
                "longUrl": "https://go.example/fr",
                "conditions": [{"type": "language", "matchKey": None, "matchValue": "fr"}],
            }
        ]
    }
    set_rules = shlink.request("POST", f"/short-urls/promo/redirect-rules?domain={GO}", json=rules)
    assert set_rules.get_json()["defaultLongUrl"] == "https://go.example/"
    assert (
        shlink.request("GET", "/short-urls/promo/redirect-rules").get_json()["redirectRules"] == []
    )
    for method in ("GET", "DELETE"):
        visits = shlink.request(method, f"/short-urls/promo/visits?domain={GO}")
        assert visits.status_code == 200
    missing = shlink.request("GET", f"/short-urls/nothing?domain={GO}")
    assert problem_of(missing, 404, "short-url-not-found")["domain"] == GO

    assert shlink.request("DELETE", f"/short-urls/promo?domain={GO}").status_code == 204
    problem_of(shlink.request("GET", f"/short-urls/promo?domain={GO}"), 404, "short-url-not-found")
    assert shlink.request("GET", "/short-urls/promo").status_code == 200


def test_a_create_on_an_unknown_domain_is_invalid_data(shlink: ShlinkClient) -> None:
    refused = shlink.request(
        "POST", "/short-urls", json={"longUrl": "https://a.example/", "domain": "nowhere.example"}
    )
    body = problem_of(refused, 400, "invalid-data")
    assert body["invalidElements"] == ["domain"]
    assert "localhost" in body["errors"]["domain"]


def test_find_if_exists_looks_on_the_domain_asked(app: Flask, shlink: ShlinkClient) -> None:
    new_domain(app, GO)
    first = shlink.create(longUrl="https://same.example/")
    again = shlink.create(longUrl="https://same.example/", findIfExists=True)
    assert again["shortCode"] == first["shortCode"]
    on_go = shlink.create(longUrl="https://same.example/", findIfExists=True, domain=GO)
    assert on_go["domain"] == GO
    assert shlink.create(longUrl="https://same.example/", findIfExists=True, domain=GO) == on_go


def _codes(shlink: ShlinkClient, query: str) -> list[tuple[str, str]]:
    """The listed short codes with their domains ("": the default one)."""
    page = shlink.request("GET", f"/short-urls?{query}").get_json()["shortUrls"]["data"]
    return sorted((item["shortCode"], item["domain"] or "") for item in page)


def test_the_list_filters_by_domain(app: Flask, shlink: ShlinkClient) -> None:
    new_domain(app, GO)
    new_domain(app, GO_TLS)
    shlink.create(customSlug="a", domain=GO)
    shlink.create(customSlug="a")
    shlink.create(customSlug="b", domain=GO_TLS)
    assert _codes(shlink, "") == [("a", ""), ("a", GO), ("b", GO_TLS)]
    assert _codes(shlink, f"domain={GO}") == [("a", GO)]
    assert _codes(shlink, "domain=go.example.com%3A8443") == [("b", GO_TLS)]
    assert _codes(shlink, "domain=DEFAULT") == [("a", "")]
    assert _codes(shlink, "domain=localhost") == [("a", "")]
    assert _codes(shlink, "domain=nowhere.example") == []


def test_visit_lists_of_domains(app: Flask, shlink: ShlinkClient) -> None:
    new_domain(app, GO)
    shlink.create(customSlug="t", tags=["news"], domain=GO)
    for path in (
        f"/domains/{GO}/visits",
        "/domains/go.example.com%3A443/visits",
        "/domains/DEFAULT/visits",
        f"/tags/news/visits?domain={GO}",
        f"/visits/orphan?domain={GO}&type=invalid_short_url",
        "/visits/non-orphan?domain=DEFAULT",
    ):
        answer = shlink.request("GET", path)
        assert answer.status_code == 200, path
        assert answer.get_json()["visits"]["data"] == []
    problem_of(shlink.request("GET", "/domains/nowhere.example/visits"), 404, "domain-not-found")


def test_the_preview_works_on_an_added_domain(app: Flask, client: FlaskClient) -> None:
    new_domain(app, GO)
    link_on(app, "promo", "https://go.example/landing", domain=GO, title="On go")
    link_on(app, "promo", "https://default.example/")
    page = client.get("/promo+", headers={"Host": GO})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://go.example/landing" in html
    assert "http://go.example.com/promo" in html
    assert "default.example" not in html
    assert client.get("/nothing+", headers={"Host": GO}).status_code == 404
    assert "default.example" in client.get("/promo+").get_data(as_text=True)


def test_a_non_admin_sees_only_own_links_on_a_domain(app: Flask, shlink: ShlinkClient) -> None:
    new_domain(app, GO)
    link_on(app, "theirs", "https://theirs.example/", domain=GO)
    problem_of(shlink.request("GET", f"/short-urls/theirs?domain={GO}"), 404, "short-url-not-found")
    assert _codes(shlink, f"domain={GO}") == []


@pytest.mark.parametrize("path", ["/rest/health", "/rest/v3/health"])
def test_health_answers_on_added_domains_and_nothing_else_of_shlinks(
    app: Flask, client: FlaskClient, path: str
) -> None:
    """Shlink's clients check the health of each domain they were given (``health({domain})``
    of the SDK); the rest of the API stays on the default domain."""
    new_domain(app, GO_TLS)
    health = client.get(path, headers={"Host": "GO.example.com:8443"})
    assert (health.status_code, health.mimetype) == (200, "application/health+json")
    assert health.get_json()["status"] == "pass"
    assert client.get("/rest/v3/short-urls", headers={"Host": GO_TLS}).status_code == 404
    assert client.get("/api/v2/health", headers={"Host": GO_TLS}).status_code == 404
