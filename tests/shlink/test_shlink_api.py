"""Shlink REST API v3 (``/rest``): every endpoint, its shapes and its error types, on both
databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from service import create_app
from service.analytics.models import DailyDimension, HourlyVisits
from service.extensions import db
from service.links.models import Link
from tests.fixtures.accounts import Account
from tests.fixtures.app import AppFactory
from tests.fixtures.services import RedisServer
from tests.shlink.conftest import ShlinkClient, problem_of

pytestmark = pytest.mark.integration

SHORT_URL_KEYS = {
    "shortCode", "shortUrl", "longUrl", "dateCreated", "tags", "meta", "domain", "title",
    "crawlable", "forwardQuery", "visitsSummary", "hasRedirectRules",
}  # fmt: skip
PAGINATION_KEYS = {"currentPage", "pagesCount", "itemsPerPage", "itemsInCurrentPage", "totalItems"}
READS = [
    ("GET", "/short-urls"),
    ("GET", "/short-urls/abc"),
    ("GET", "/short-urls/abc/visits"),
    ("GET", "/short-urls/abc/redirect-rules"),
    ("GET", "/tags"),
    ("GET", "/tags/stats"),
    ("GET", "/tags/docs/visits"),
    ("GET", "/visits"),
    ("GET", "/visits/orphan"),
    ("GET", "/visits/non-orphan"),
    ("GET", "/domains"),
    ("GET", "/mercure-info"),
]
WRITES = [
    ("POST", "/short-urls"),
    ("PATCH", "/short-urls/abc"),
    ("DELETE", "/short-urls/abc"),
    ("DELETE", "/short-urls/abc/visits"),
    ("POST", "/short-urls/abc/redirect-rules"),
    ("PUT", "/tags"),
    ("DELETE", "/tags?tags[]=docs"),
    ("DELETE", "/visits/orphan"),
    ("PATCH", "/domains/redirects"),
]


def _atom(text: str) -> datetime:
    assert text.endswith("+00:00"), text  # 2026-12-02T10:00:00+00:00
    assert len(text) == 25, text
    return datetime.fromisoformat(text)


def _count_visits(app: Flask, slug: str, visits: int, bots: int) -> None:
    """What the analytics worker would have stored for ``slug``: one hour and one day."""
    with app.app_context():
        link_id = db.session.scalar(db.select(Link.id).where(Link.slug == slug))
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        db.session.add(HourlyVisits(link_id=link_id, hour=hour, visits=visits, bot_visits=bots))
        db.session.add(
            DailyDimension(
                link_id=link_id,
                dimension="browser",
                day=hour.date(),
                value="Firefox",
                visits=visits,
                bot_visits=bots,
            )
        )
        db.session.commit()


# -- health, keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/rest/health", "/rest/v3/health"])
def test_health_is_shlinks_shape_without_a_key(shlink: ShlinkClient, path: str) -> None:
    response = shlink.client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/health+json"
    body = response.get_json()
    assert body["status"] == "pass"
    assert body["version"] == "5.0.0"
    assert body["links"] == {
        "about": "https://shlink.io",
        "project": "https://github.com/shlinkio/shlink",
    }


def test_health_fails_and_keys_wait_when_the_database_is_down(redis_server: RedisServer) -> None:
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": redis_server.url,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/none",
        }
    )
    client = app.test_client()
    health = client.get("/rest/health")
    assert health.status_code == 503
    assert health.get_json()["status"] == "fail"
    listed = client.get("/rest/v3/short-urls", headers={"X-Api-Key": "lf_AAAAAAAA_" + "A" * 43})
    assert problem_of(listed, 503)["type"] == "about:blank"
    assert listed.headers["Retry-After"] == "5"


def test_missing_and_unknown_keys_are_shlinks_401s(make_app: AppFactory, alice: Account) -> None:
    app = make_app(API_AUTH_FAILURE_LIMIT="1000 per minute")
    shlink = ShlinkClient(app.test_client(), alice)
    for method, path in READS + WRITES:
        missing = problem_of(shlink.request(method, path, key=""), 401, "missing-authentication")
        assert missing["title"] == "Invalid authorization"
        assert "X-Api-Key" in missing["detail"]
        unknown = problem_of(
            shlink.request(method, path, key="lf_AAAAAAAA_" + "A" * 43), 401, "invalid-api-key"
        )
        assert unknown["detail"] == "Provided API key does not exist or is invalid."


def test_a_read_key_reads_and_may_not_write(shlink: ShlinkClient, alice: Account) -> None:
    shlink.create(customSlug="abc", tags=["docs"])
    for method, path in READS:
        response = shlink.request(method, path, key=alice.read_key)
        assert response.status_code in {200, 501}, (path, response.get_json())
    for method, path in WRITES:
        body = problem_of(shlink.request(method, path, key=alice.read_key, json={}), 403)
        assert "read-only" in body["detail"]
    assert shlink.request("GET", "/short-urls/abc").status_code == 200  # nothing deleted


def test_a_spent_failure_budget_is_429_with_retry_after(
    make_app: AppFactory, alice: Account
) -> None:
    app = make_app(API_AUTH_FAILURE_LIMIT="2 per minute")
    shlink = ShlinkClient(app.test_client(), alice)
    for _ in range(2):
        problem_of(shlink.request("GET", "/short-urls", key="wrong"), 401, "invalid-api-key")
    response = shlink.request("GET", "/short-urls")  # even the right key, for a while
    problem_of(response, 429)
    assert int(response.headers["Retry-After"]) > 0


# -- short URLs ---------------------------------------------------------------------------------


def test_create_answers_shlinks_short_url(shlink: ShlinkClient) -> None:
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    item = shlink.create(
        longUrl="https://example.org/a/long/path",
        customSlug="made",
        tags=["Zeta", "alpha"],
        title="A title",
        validUntil=until.isoformat(),
        maxVisits=5,
        crawlable=False,
        forwardQuery=False,
    )
    assert set(item) == SHORT_URL_KEYS
    assert item["shortCode"] == "made"
    assert item["shortUrl"] == "http://localhost/made"
    assert item["longUrl"] == "https://example.org/a/long/path"
    assert item["tags"] == ["alpha", "zeta"]
    assert item["meta"] == {"validSince": None, "validUntil": until.isoformat(), "maxVisits": 5}
    assert item["domain"] is None
    assert item["title"] == "A title"
    assert (item["crawlable"], item["forwardQuery"], item["hasRedirectRules"]) == (
        False,
        False,
        False,
    )
    assert item["visitsSummary"] == {"total": 0, "nonBots": 0, "bots": 0}
    assert datetime.now(UTC) - _atom(item["dateCreated"]) < timedelta(days=1)
    plain = shlink.create()
    assert plain["title"] is None
    assert plain["meta"]["validUntil"] is None


@pytest.mark.parametrize(
    ("fields", "element"),
    [
        ({"longUrl": None}, "longUrl"),
        ({"longUrl": "ftp://example.org/file"}, "longUrl"),
        ({"crawlable": "maybe"}, "crawlable"),
        ({"forwardQuery": 2}, "forwardQuery"),
        ({"validSince": "2999-01-01T00:00:00+00:00"}, "validSince"),
        ({"validUntil": "not a date"}, "validUntil"),
        ({"validUntil": "2001-01-01T00:00:00Z"}, "validUntil"),
        ({"maxVisits": 0}, "maxVisits"),
        ({"maxVisits": "many"}, "maxVisits"),
        ({"domain": "other.example"}, "domain"),
        ({"shortCodeLength": 3}, "shortCodeLength"),
        ({"customSlug": "has space"}, "customSlug"),
        ({"customSlug": "rest"}, "customSlug"),
        ({"tags": "docs"}, "tags"),
        ({"title": "x" * 201}, "title"),
        ({"deviceLongUrls": {"android": "https://example.org/"}}, "deviceLongUrls"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_create_refuses_with_invalid_data(
    shlink: ShlinkClient, fields: dict[str, Any], element: str
) -> None:
    response = shlink.request(
        "POST", "/short-urls", json={"longUrl": "https://a.example/", **fields}
    )
    body = problem_of(response, 400, "invalid-data")
    assert body["title"] == "Invalid data"
    assert body["invalidElements"] == [element]
    assert body["errors"][element]


def test_create_refuses_a_body_that_is_not_a_json_object(shlink: ShlinkClient) -> None:
    for data in (b"{nope", b"[1, 2]"):
        response = shlink.request(
            "POST", "/short-urls", data=data, headers={"Content-Type": "application/json"}
        )
        assert problem_of(response, 400, "invalid-data")["invalidElements"] == ["body"]


def test_a_taken_slug_is_non_unique_slug(shlink: ShlinkClient) -> None:
    shlink.create(customSlug="taken")
    response = shlink.request(
        "POST", "/short-urls", json={"longUrl": "https://b.example/", "customSlug": "taken"}
    )
    body = problem_of(response, 400, "non-unique-slug")
    assert body["customSlug"] == "taken"
    assert body["detail"] == 'Provided slug "taken" is already in use.'


def test_short_code_length_and_find_if_exists(shlink: ShlinkClient) -> None:
    generated = shlink.create(shortCodeLength=11)
    assert len(generated["shortCode"]) == 11
    first = shlink.create(longUrl="https://same.example/", tags=["a"])
    again = shlink.create(longUrl="https://same.example/", tags=["a"], findIfExists=True)
    assert again["shortCode"] == first["shortCode"]
    other_tags = shlink.create(longUrl="https://same.example/", tags=["b"], findIfExists=True)
    assert other_tags["shortCode"] != first["shortCode"]
    listed = shlink.request("GET", "/short-urls?itemsPerPage=-1").get_json()
    assert listed["shortUrls"]["pagination"]["totalItems"] == 3


def test_get_and_not_found(shlink: ShlinkClient, bob: Account) -> None:
    shlink.create(customSlug="mine")
    assert shlink.request("GET", "/short-urls/mine").get_json()["shortCode"] == "mine"
    assert shlink.request("GET", "/short-urls/mine?domain=localhost").status_code == 200
    missing = problem_of(shlink.request("GET", "/short-urls/nope"), 404, "short-url-not-found")
    assert missing["shortCode"] == "nope"
    assert missing["detail"] == 'No URL found with short code "nope"'
    other = problem_of(
        shlink.request("GET", "/short-urls/mine?domain=other.example"), 404, "short-url-not-found"
    )
    assert other["domain"] == "other.example"
    # Bob's key: Alice's link is a short code that names nothing.
    for method in ("GET", "PATCH", "DELETE"):
        response = shlink.request(method, "/short-urls/mine", key=bob.key, json={"title": "x"})
        problem_of(response, 404, "short-url-not-found")
    for path in ("/short-urls/%00", "/short-urls/" + "a" * 80, "/short-urls?searchTerm=%00"):
        assert shlink.request("GET", path).status_code in {400, 404}


def test_edit_changes_what_is_sent(shlink: ShlinkClient) -> None:
    shlink.create(customSlug="edit", title="Old", tags=["a"], maxVisits=3)
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    response = shlink.request(
        "PATCH",
        "/short-urls/edit",
        json={
            "longUrl": "https://changed.example/",
            "title": None,
            "tags": ["b", "a"],
            "validUntil": until.isoformat(),
            "maxVisits": None,
            "crawlable": False,
        },
    )
    assert response.status_code == 200, response.get_json()
    item = response.get_json()
    assert item["longUrl"] == "https://changed.example/"
    assert item["title"] is None
    assert item["tags"] == ["a", "b"]
    assert item["meta"] == {"validSince": None, "validUntil": until.isoformat(), "maxVisits": None}
    unchanged = shlink.request("PATCH", "/short-urls/edit", json={}).get_json()
    assert unchanged["longUrl"] == "https://changed.example/"
    cleared = shlink.request("PATCH", "/short-urls/edit", json={"validUntil": None}).get_json()
    assert cleared["meta"]["validUntil"] is None
    for body, element in [
        ({"validUntil": "2001-01-01T00:00:00+00:00"}, "validUntil"),
        ({"forwardQuery": "sometimes"}, "forwardQuery"),
        ({"longUrl": 42}, "longUrl"),
        ({"tags": [1]}, "tags"),
    ]:
        refused = shlink.request("PATCH", "/short-urls/edit", json=body)
        assert problem_of(refused, 400, "invalid-data")["invalidElements"] == [element]


def test_crawlable_and_forward_query_are_the_links_with_shlinks_defaults(
    shlink: ShlinkClient,
) -> None:
    """Created here, a link forwards the query unless told not to (Shlink's default) and is
    not crawlable unless told; both are the links' own fields, honoured by the redirect and
    robots.txt; a PATCH changes what it sends, and null is the default again."""
    plain = shlink.create(customSlug="plain", longUrl="https://example.com/?a=1")
    assert (plain["crawlable"], plain["forwardQuery"]) == (False, True)
    assert shlink.client.get("/plain?a=2&b=3").headers["Location"] == (
        "https://example.com/?a=2&b=3"
    )
    set_off = shlink.create(customSlug="still", crawlable=True, forwardQuery=False)
    assert (set_off["crawlable"], set_off["forwardQuery"]) == (True, False)
    assert shlink.client.get("/still?a=2").headers["Location"] == "https://example.com/"
    robots = shlink.client.get("/robots.txt").get_data(as_text=True)
    assert "Allow: /still$\n" in robots
    assert "/plain" not in robots

    edited = shlink.request(
        "PATCH", "/short-urls/plain", json={"crawlable": "true", "forwardQuery": False}
    ).get_json()
    assert (edited["crawlable"], edited["forwardQuery"]) == (True, False)
    assert shlink.client.get("/plain?a=2").headers["Location"] == "https://example.com/?a=1"
    kept = shlink.request("PATCH", "/short-urls/plain", json={"title": "t"}).get_json()
    assert (kept["crawlable"], kept["forwardQuery"]) == (True, False)
    reset = shlink.request(
        "PATCH", "/short-urls/plain", json={"crawlable": None, "forwardQuery": None}
    ).get_json()
    assert (reset["crawlable"], reset["forwardQuery"]) == (False, True)
    listed = shlink.request("GET", "/short-urls?itemsPerPage=-1").get_json()["shortUrls"]["data"]
    assert {item["shortCode"]: item["forwardQuery"] for item in listed} == {
        "plain": True,
        "still": False,
    }


def test_delete(shlink: ShlinkClient) -> None:
    shlink.create(customSlug="gone")
    response = shlink.request("DELETE", "/short-urls/gone")
    assert response.status_code == 204
    assert response.get_data() == b""
    problem_of(shlink.request("DELETE", "/short-urls/gone"), 404, "short-url-not-found")
    assert shlink.client.get("/gone").status_code == 404


def _codes(shlink: ShlinkClient, query: str) -> list[str]:
    response = shlink.request("GET", f"/short-urls?{query}")
    assert response.status_code == 200, response.get_json()
    return [item["shortCode"] for item in response.get_json()["shortUrls"]["data"]]


def test_list_filters_orders_and_pages(app: Flask, shlink: ShlinkClient) -> None:
    shlink.create(customSlug="one", longUrl="https://one.example/", tags=["a", "b"], title="Zed")
    shlink.create(customSlug="two", longUrl="https://two.example/", tags=["a"], maxVisits=2)
    shlink.create(customSlug="three", longUrl="https://three.example/", tags=["c"])
    _count_visits(app, "two", visits=5, bots=4)
    _count_visits(app, "three", visits=3, bots=0)
    with app.app_context():
        link = db.session.scalar(db.select(Link).where(Link.slug == "three"))
        link.expires_at = datetime.now(UTC) - timedelta(hours=1)
        db.session.commit()

    body = shlink.request("GET", "/short-urls").get_json()
    assert set(body) == {"shortUrls"}
    assert set(body["shortUrls"]) == {"data", "pagination"}
    assert body["shortUrls"]["pagination"] == {
        "currentPage": 1, "pagesCount": 1, "itemsPerPage": 10, "itemsInCurrentPage": 3,
        "totalItems": 3,
    }  # fmt: skip
    assert _codes(shlink, "orderBy=shortCode-ASC") == ["one", "three", "two"]
    assert _codes(shlink, "orderBy=shortCode-DESC") == ["two", "three", "one"]
    assert _codes(shlink, "orderBy=visits-DESC") == ["two", "three", "one"]
    assert _codes(shlink, "orderBy=nonBotVisits-DESC") == ["three", "two", "one"]
    assert _codes(shlink, "orderBy=title-DESC")[0] == "one"
    assert _codes(shlink, "searchTerm=TWO.example") == ["two"]
    assert sorted(_codes(shlink, "tags[]=a")) == ["one", "two"]
    assert sorted(_codes(shlink, "tags[]=a&tags[]=c&tagsMode=any")) == ["one", "three", "two"]
    assert _codes(shlink, "tags[]=a&tags[]=b&tagsMode=all") == ["one"]
    assert _codes(shlink, "excludeTags[]=a&orderBy=shortCode") == ["three"]
    assert _codes(shlink, "excludeMaxVisitsReached=true&orderBy=shortCode") == ["one", "three"]
    assert _codes(shlink, "excludePastValidUntil=true&orderBy=shortCode") == ["one", "two"]
    assert _codes(shlink, "startDate=2999-01-01T00:00:00Z") == []
    assert len(_codes(shlink, "endDate=2999-01-01T00:00:00%2B00:00")) == 3
    second = shlink.request("GET", "/short-urls?itemsPerPage=2&page=2&orderBy=shortCode")
    page = second.get_json()["shortUrls"]
    assert [item["shortCode"] for item in page["data"]] == ["two"]
    assert page["pagination"] == {
        "currentPage": 2, "pagesCount": 2, "itemsPerPage": 2, "itemsInCurrentPage": 1,
        "totalItems": 3,
    }  # fmt: skip
    every = shlink.request("GET", "/short-urls?itemsPerPage=-1").get_json()["shortUrls"]
    assert every["pagination"]["itemsPerPage"] == 3
    assert len(every["data"]) == 3
    two = next(item for item in every["data"] if item["shortCode"] == "two")
    assert two["visitsSummary"] == {"total": 5, "nonBots": 1, "bots": 4}
    assert _codes(shlink, "domain=other.example") == []
    assert len(_codes(shlink, "domain=DEFAULT")) == 3


@pytest.mark.parametrize(
    ("query", "element"),
    [
        ("orderBy=password-ASC", "orderBy"),
        ("orderBy=shortCode-UP", "orderBy"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("itemsPerPage=0", "itemsPerPage"),
        ("tagsMode=some", "tagsMode"),
        ("startDate=yesterday", "startDate"),
        ("excludeMaxVisitsReached=maybe", "excludeMaxVisitsReached"),
        ("apiKeyName=tests", "apiKeyName"),
    ],
)
def test_list_refuses_bad_arguments(shlink: ShlinkClient, query: str, element: str) -> None:
    response = shlink.request("GET", f"/short-urls?{query}")
    assert problem_of(response, 400, "invalid-data")["invalidElements"] == [element]


# -- visits -------------------------------------------------------------------------------------


def test_visit_summaries_and_lists(app: Flask, shlink: ShlinkClient, bob: Account) -> None:
    shlink.create(customSlug="seen", tags=["docs"])
    _count_visits(app, "seen", visits=3, bots=1)
    item = shlink.request("GET", "/short-urls/seen").get_json()
    assert item["visitsSummary"] == {"total": 3, "nonBots": 2, "bots": 1}
    overview = shlink.request("GET", "/visits").get_json()
    assert overview == {
        "visits": {
            "nonOrphanVisits": {"total": 3, "nonBots": 2, "bots": 1},
            "orphanVisits": {"total": 0, "nonBots": 0, "bots": 0},
            "visitsCount": 3,
            "orphanVisitsCount": 0,
        }
    }
    assert shlink.request("GET", "/visits", key=bob.key).get_json()["visits"]["visitsCount"] == 0
    empty = {
        "visits": {
            "data": [],
            "pagination": {
                "currentPage": 1, "pagesCount": 0, "itemsPerPage": 10, "itemsInCurrentPage": 0,
                "totalItems": 0,
            },
        }
    }  # fmt: skip
    for path in (
        "/short-urls/seen/visits",
        "/short-urls/seen/visits?excludeBots=true&startDate=2020-01-01T00:00:00Z",
        "/tags/docs/visits",
        "/tags/DOCS/visits",
        "/domains/DEFAULT/visits",
        "/domains/localhost/visits",
        "/visits/non-orphan",
        "/visits/orphan?type=regular_404",
    ):
        response = shlink.request("GET", path)
        assert response.get_json() == empty, path
    problem_of(shlink.request("GET", "/short-urls/nope/visits"), 404, "short-url-not-found")
    assert (
        problem_of(shlink.request("GET", "/tags/nope/visits"), 404, "tag-not-found")["tag"]
        == "nope"
    )
    problem_of(shlink.request("GET", "/tags/docs/visits", key=bob.key), 404, "tag-not-found")
    problem_of(shlink.request("GET", "/domains/other.example/visits"), 404, "domain-not-found")
    problem_of(shlink.request("GET", "/visits/orphan?type=odd"), 400, "invalid-data")
    problem_of(shlink.request("GET", "/visits/non-orphan?page=-2"), 400, "invalid-data")


def test_deleting_visits_erases_the_links_counts(app: Flask, shlink: ShlinkClient) -> None:
    shlink.create(customSlug="wipe")
    shlink.create(customSlug="keep")
    _count_visits(app, "wipe", visits=4, bots=1)
    _count_visits(app, "keep", visits=2, bots=0)
    response = shlink.request("DELETE", "/short-urls/wipe/visits")
    assert response.get_json() == {"deletedVisits": 4}
    assert shlink.request("GET", "/short-urls/wipe").get_json()["visitsSummary"]["total"] == 0
    assert shlink.request("GET", "/short-urls/keep").get_json()["visitsSummary"]["total"] == 2
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(DailyDimension)) == 1
    # Orphan visits are an administrator's (tests/shlink/test_shlink_orphans.py).
    problem_of(shlink.request("DELETE", "/visits/orphan"), 403)


# -- tags ---------------------------------------------------------------------------------------


def test_tags_list_and_stats(app: Flask, shlink: ShlinkClient, bob: Account) -> None:
    shlink.create(customSlug="t1", tags=["docs", "blog"])
    shlink.create(customSlug="t2", tags=["docs"])
    ShlinkClient(shlink.client, Account(bob.id, bob.email, bob.key, bob.read_key)).create(
        tags=["secret"]
    )
    _count_visits(app, "t1", visits=5, bots=2)
    listed = shlink.request("GET", "/tags").get_json()
    assert listed["tags"]["data"] == ["blog", "docs"]
    assert listed["tags"]["pagination"]["totalItems"] == 2
    stats = shlink.request("GET", "/tags/stats").get_json()["tags"]["data"]
    assert stats == [
        {
            "tag": "blog",
            "shortUrlsCount": 1,
            "visitsSummary": {"total": 5, "nonBots": 3, "bots": 2},
        },
        {
            "tag": "docs",
            "shortUrlsCount": 2,
            "visitsSummary": {"total": 5, "nonBots": 3, "bots": 2},
        },
    ]
    ordered = shlink.request("GET", "/tags/stats?orderBy=shortUrlsCount-DESC").get_json()
    assert [item["tag"] for item in ordered["tags"]["data"]] == ["docs", "blog"]
    searched = shlink.request("GET", "/tags?searchTerm=DO&itemsPerPage=1").get_json()["tags"]
    assert searched["data"] == ["docs"]
    assert searched["pagination"]["itemsPerPage"] == 1


def test_rename_and_delete_tags(shlink: ShlinkClient, bob: Account) -> None:
    shlink.create(customSlug="r1", tags=["old", "keep"])
    shlink.create(customSlug="r2", tags=["old"])
    bobs = ShlinkClient(shlink.client, bob)
    bobs.create(customSlug="b1", tags=["old"])
    response = shlink.request("PUT", "/tags", json={"oldName": "old", "newName": "New"})
    assert response.status_code == 204
    assert shlink.request("GET", "/short-urls/r1").get_json()["tags"] == ["keep", "new"]
    assert bobs.request("GET", "/short-urls/b1").get_json()["tags"] == ["old"]  # not Alice's
    missing = shlink.request("PUT", "/tags", json={"oldName": "old", "newName": "x"})
    problem_of(missing, 404, "tag-not-found")
    conflict = shlink.request("PUT", "/tags", json={"oldName": "new", "newName": "keep"})
    body = problem_of(conflict, 409, "tag-conflict")
    assert (body["oldName"], body["newName"]) == ("new", "keep")
    invalid = shlink.request("PUT", "/tags", json={"oldName": "new"})
    assert problem_of(invalid, 400, "invalid-data")["invalidElements"] == ["newName"]
    deleted = shlink.request("DELETE", "/tags?tags[]=new&tags[]=unknown")
    assert deleted.status_code == 204
    assert shlink.request("GET", "/short-urls/r1").get_json()["tags"] == ["keep"]
    assert shlink.request("GET", "/short-urls/r2").get_json()["tags"] == []
    assert shlink.request("GET", "/tags").get_json()["tags"]["data"] == ["keep"]


# -- mercure, routes (redirect rules: test_shlink_rules.py, domains: test_shlink_domains.py) --


def test_mercure_is_not_configured(shlink: ShlinkClient) -> None:
    problem_of(shlink.request("GET", "/mercure-info"), 501, "mercure-not-configured")


def test_unknown_routes_and_methods_are_problems(shlink: ShlinkClient) -> None:
    for path in ("/rest/v3/nope", "/rest/v2/short-urls", "/rest/", "/rest/v3/short-urls/a/b/c"):
        body = problem_of(shlink.client.get(path), 404, "not-found")
        assert body["detail"] == "Requested route does not exist."
    response = shlink.request("PUT", "/short-urls")
    problem_of(response, 405)
    assert response.headers["Allow"] == "GET, POST"


ODD_REQUESTS = [
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "maxVisits": True}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "tags": ["x" * 100]}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "tags": ["a\x00"]}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "customSlug": 7}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "customSlug": "a\x00"}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "findIfExists": "maybe"}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "shortCodeLength": "١٢"}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "validUntil": 12}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/", "domain": "[::1"}),
    ("POST", "/short-urls", {"longUrl": "http://[::1/"}),
    ("POST", "/short-urls", {"longUrl": "https://a.example/\x00"}),
    ("PATCH", "/short-urls/odd", {"longUrl": "javascript:alert(1)"}),
    ("PATCH", "/short-urls/odd", {"maxVisits": -1}),
    ("PATCH", "/short-urls/odd", {"title": "a\x01b"}),
    ("PUT", "/tags", {"oldName": "a\x00", "newName": "b"}),
    ("PUT", "/tags", {"oldName": "odd", "newName": "b\x00"}),
    ("PUT", "/tags", {"oldName": "odd", "newName": "x" * 100}),
    ("GET", "/short-urls?page=99999999999", None),
    ("GET", "/short-urls?page=2147483647&itemsPerPage=2147483647", None),
    ("GET", "/short-urls?tags[]=a%00", None),
    ("GET", "/short-urls?tags[]=" + "x" * 300, None),
    ("GET", "/short-urls?searchTerm=%25_%5C", None),
    ("GET", "/short-urls?startDate=2026-13-01", None),
    ("GET", "/short-urls?orderBy=-", None),
    ("GET", "/short-urls/odd?domain=%00", None),
    ("GET", "/tags/a%00/visits", None),
    ("GET", "/tags/" + "x" * 300 + "/visits", None),
    ("GET", "/domains/%5B::1/visits", None),
    ("GET", "/tags?itemsPerPage=1&page=3", None),
    ("DELETE", "/tags?tags[]=a%00", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ODD_REQUESTS, ids=range(len(ODD_REQUESTS)))
def test_odd_input_is_a_problem_never_a_500(
    shlink: ShlinkClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    shlink.create(customSlug="odd", tags=["odd"])
    response = shlink.request(method, path, json=body)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        problem_of(response, response.status_code)
    else:
        assert response.mimetype == "application/json"


def test_a_body_over_the_limit_is_413(make_app: AppFactory, alice: Account) -> None:
    shlink = ShlinkClient(make_app(API_JSON_MAX_BYTES=1024).test_client(), alice)
    response = shlink.request(
        "POST", "/short-urls", json={"longUrl": "https://a.example/", "title": "x" * 2000}
    )
    problem_of(response, 413)
