"""Shlink's redirect rules (``/rest/v3/short-urls/{shortCode}/redirect-rules``) over
LinkFleet's link rules, on both databases: shapes both ways, the redirect following them,
and every refusal a problem+json naming the rule and condition."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.extensions import db
from service.links.models import Link
from tests.fixtures.accounts import Account
from tests.shlink.conftest import ShlinkClient, problem_of

pytestmark = pytest.mark.integration

DEFAULT = "https://rules.example/"
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
PATH = "/short-urls/app/redirect-rules"


def condition(kind: str, value: str | None, key: str | None = None) -> dict[str, Any]:
    return {"type": kind, "matchKey": key, "matchValue": value}


def rule(url: str, *conditions: dict[str, Any]) -> dict[str, Any]:
    return {"longUrl": url, "conditions": list(conditions)}


def set_rules(shlink: ShlinkClient, *rules: dict[str, Any]) -> Any:
    return shlink.request("POST", PATH, json={"redirectRules": list(rules)})


def stored_rules(app: Flask) -> Any:
    with app.app_context():
        return db.session.scalar(db.select(Link.rules).where(Link.slug == "app"))


@pytest.fixture
def link(shlink: ShlinkClient) -> dict[str, Any]:
    return shlink.create(customSlug="app", longUrl=DEFAULT)


def test_rules_go_both_ways_in_shlinks_shape(
    app: Flask, shlink: ShlinkClient, link: dict[str, Any]
) -> None:
    assert link["hasRedirectRules"] is False
    response = set_rules(
        shlink,
        rule("https://android.example/", condition("device", "android")),
        rule(
            "https://fr.example/",
            condition("language", "fr-CA"),
            condition("geolocation-country-code", "ca"),
            condition("browser", "android_browser"),
        ),
        rule("https://promo.example/", condition("query-param", "spring", "promo")),
        rule(
            "https://office.example/",
            condition("ip-address", "192.168.*.*"),
            condition("ip-address", "203.0.113.7"),
        ),
        rule(
            "https://window.example/",
            condition("after-date", "2030-01-01T00:00:00+01:00"),
            condition("before-date", "2031-01-01T00:00:00Z"),
        ),
    )
    assert response.status_code == 200, response.get_json()
    expected = {
        "defaultLongUrl": DEFAULT,
        "redirectRules": [
            {
                "longUrl": "https://android.example/",
                "priority": 1,
                "conditions": [condition("device", "android")],
            },
            {
                "longUrl": "https://fr.example/",
                "priority": 2,
                "conditions": [
                    condition("language", "fr-ca"),
                    condition("geolocation-country-code", "CA"),
                    condition("browser", "android_browser"),
                ],
            },
            {
                "longUrl": "https://promo.example/",
                "priority": 3,
                "conditions": [condition("query-param", "spring", "promo")],
            },
            {
                "longUrl": "https://office.example/",
                "priority": 4,
                "conditions": [
                    condition("ip-address", "192.168.0.0/16"),
                    condition("ip-address", "203.0.113.7"),
                ],
            },
            {
                "longUrl": "https://window.example/",
                "priority": 5,
                "conditions": [
                    condition("after-date", "2029-12-31T23:00:00+00:00"),
                    condition("before-date", "2031-01-01T00:00:00+00:00"),
                ],
            },
        ],
    }
    assert response.get_json() == expected
    assert shlink.request("GET", PATH).get_json() == expected
    # Stored as LinkFleet's own rules: what /api/v1 and the dashboard show and the redirect uses.
    stored = stored_rules(app)
    assert stored[0] == {
        "url": "https://android.example/",
        "conditions": [{"type": "device", "value": "android"}],
    }
    assert stored[1]["conditions"][1:] == [
        {"type": "country", "value": "CA"},
        {"type": "browser", "value": "android"},
    ]
    assert stored[2]["conditions"] == [{"type": "query", "value": "spring", "name": "promo"}]
    assert stored[3]["conditions"][0] == {"type": "network", "value": "192.168.0.0/16"}
    assert shlink.request("GET", "/short-urls/app").get_json()["hasRedirectRules"] is True
    listed = shlink.request("GET", "/short-urls").get_json()["shortUrls"]["data"]
    assert [item["hasRedirectRules"] for item in listed] == [True]


def test_the_redirect_follows_the_rules_set_here(
    shlink: ShlinkClient, client: FlaskClient, link: dict[str, Any]
) -> None:
    assert client.get("/app", headers={"User-Agent": PIXEL}).headers["Location"] == DEFAULT
    set_rules(
        shlink,
        rule("https://android.example/", condition("device", "android")),
        rule("https://promo.example/", condition("query-param", "spring", "promo")),
        rule("https://office.example/", condition("ip-address", "198.51.100.*")),
    )
    # The cached link was replaced by the write (the links service's invalidation).
    android = client.get("/app", headers={"User-Agent": PIXEL})
    assert android.headers["Location"] == "https://android.example/"
    desktop = {"User-Agent": LINUX_FIREFOX}
    assert client.get("/app", headers=desktop).headers["Location"] == DEFAULT
    # Created here, the link forwards the query (Shlink's default), to a rule's target too.
    promo = client.get("/app?promo=spring", headers=desktop)
    assert promo.headers["Location"] == "https://promo.example/?promo=spring"
    autumn = client.get("/app?promo=autumn", headers=desktop)
    assert autumn.headers["Location"] == f"{DEFAULT}?promo=autumn"
    office = client.get("/app", headers=desktop, environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert office.headers["Location"] == "https://office.example/"
    cleared = shlink.request("POST", PATH, json={"redirectRules": []})
    assert cleared.get_json() == {"defaultLongUrl": DEFAULT, "redirectRules": []}
    assert client.get("/app", headers={"User-Agent": PIXEL}).headers["Location"] == DEFAULT
    assert shlink.request("GET", "/short-urls/app").get_json()["hasRedirectRules"] is False


@pytest.mark.parametrize(
    ("kind", "key", "value"),
    [
        ("geolocation-city-name", None, "Paris"),
        ("any-value-query-param", "promo", None),
        ("valueless-query-param", "promo", None),
    ],
    ids=["city", "any-value-query", "valueless-query"],
)
def test_conditions_linkfleet_cannot_express_are_invalid_data(
    app: Flask,
    shlink: ShlinkClient,
    link: dict[str, Any],
    kind: str,
    key: str | None,
    value: str | None,
) -> None:
    set_rules(shlink, rule("https://android.example/", condition("device", "android")))
    before = stored_rules(app)
    response = set_rules(
        shlink,
        rule(
            "https://x.example/", condition("device", "ios"), condition(kind, key=key, value=value)
        ),
    )
    body = problem_of(response, 400, "invalid-data")
    assert body["invalidElements"] == ["redirectRules.0.conditions.1"]
    message = body["errors"]["redirectRules.0.conditions.1"]
    assert message.startswith(f"Rule 1, condition 2: LinkFleet cannot match {kind}.")
    assert stored_rules(app) == before


def one(*conditions: Any, url: str = "https://x.example/") -> list[dict[str, Any]]:
    """A single rule with ``conditions``."""
    return [rule(url, *conditions)]


FIRST = ["redirectRules.0.conditions.0"]


@pytest.mark.parametrize(
    ("rules", "elements"),
    [
        ({"longUrl": "https://x.example/"}, ["redirectRules"]),
        (one(condition("device", "mobile")), FIRST),
        (one(condition("device", "ios"), url="ftp://x.example/"), ["redirectRules.0.longUrl"]),
        (one(), ["redirectRules.0.conditions"]),
        (one(condition("planet", "mars")), FIRST),
        (one(condition("ip-address", "10.*.0.1")), FIRST),
        (one(condition("before-date", "soon")), FIRST),
        (one(condition("query-param", "x", None)), FIRST),
        (one(condition("language", None)), FIRST),
        (one("device"), FIRST),
        (["device"], ["redirectRules.0"]),
        (one(condition("device", "ios")) * 11, ["redirectRules"]),
    ],
    ids=[
        "not-a-list", "shlink-only-device", "long-url", "no-conditions", "unknown-type",
        "inner-wildcard", "date", "no-query-name", "no-value", "condition-not-object",
        "rule-not-object", "too-many",
    ],
)  # fmt: skip
def test_refused_rules_are_invalid_data_naming_the_place(
    app: Flask, shlink: ShlinkClient, link: dict[str, Any], rules: Any, elements: list[str]
) -> None:
    response = shlink.request("POST", PATH, json={"redirectRules": rules})
    body = problem_of(response, 400, "invalid-data")
    assert body["invalidElements"] == elements
    assert all(body["errors"][element] for element in elements)
    assert stored_rules(app) in (None, [])


def test_someone_elses_short_code_is_not_found(
    shlink: ShlinkClient, link: dict[str, Any], bob: Account
) -> None:
    for method in ("GET", "POST"):
        response = shlink.request(method, PATH, key=bob.key, json={"redirectRules": []})
        assert problem_of(response, 404, "short-url-not-found")["shortCode"] == "app"
    problem_of(shlink.request("GET", "/short-urls/nope/redirect-rules"), 404, "short-url-not-found")
    denied = shlink.request("POST", PATH, key=shlink.account.read_key, json={"redirectRules": []})
    assert problem_of(denied, 403)["type"] == "about:blank"


def test_a_rule_written_by_hand_that_cannot_be_read_is_left_out(
    app: Flask, shlink: ShlinkClient, link: dict[str, Any]
) -> None:
    readable = {"url": "https://ios.example/", "conditions": [{"type": "device", "value": "ios"}]}
    unreadable = {"url": "https://x.example/", "conditions": [{"type": "network", "value": "x"}]}
    with app.app_context():
        row = db.session.scalars(db.select(Link).where(Link.slug == "app")).one()
        row.rules = [unreadable, readable]
        db.session.commit()
    answer = shlink.request("GET", PATH).get_json()
    assert answer["redirectRules"] == [
        {
            "longUrl": "https://ios.example/",
            "priority": 1,
            "conditions": [condition("device", "ios")],
        }
    ]
