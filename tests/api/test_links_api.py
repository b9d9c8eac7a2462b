"""Contract tests of ``/api/v1/links``: statuses, headers and bodies, errors as problem+json."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from tests.api.conftest import assert_problem
from tests.fixtures.accounts import Account, ApiClient

LINK_KEYS = {
    "slug",
    "domain",
    "short_url",
    "url",
    "title",
    "tags",
    "redirect_type",
    "expires_at",
    "max_visits",
    "rules",
    "forward_query",
    "crawlable",
    "visits",
    "has_password",
    "created_at",
    "updated_at",
}


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


# -- POST /links ------------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_the_link(api: ApiClient) -> None:
    expiry = future()
    response = api.post(
        "/api/v1/links",
        json={
            "url": "https://example.com/docs?x=1",
            "slug": "docs",
            "title": "  The   docs ",
            "tags": ["Python", "docs", "python"],
            "redirect_type": 301,
            "expires_at": expiry,
            "max_visits": 5,
            "password": "open sesame",
        },
    )
    assert response.status_code == 201
    assert response.headers["Location"] == "http://localhost/api/v1/links/docs"
    assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["ETag"])
    body = response.get_json()
    assert set(body) == LINK_KEYS
    assert body["slug"] == "docs"
    assert body["short_url"] == "http://localhost/docs"
    assert body["url"] == "https://example.com/docs?x=1"
    assert body["title"] == "The docs"
    assert body["tags"] == ["docs", "python"]
    assert body["redirect_type"] == 301
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromisoformat(expiry)
    assert body["max_visits"] == 5
    assert body["visits"] == 0
    assert body["has_password"] is True
    assert "password" not in body


def test_create_with_only_a_url_picks_a_random_slug(api: ApiClient) -> None:
    body = api.create(url="https://example.com/")
    assert re.fullmatch(r"[A-Za-z0-9]{7,}", body["slug"])
    assert body["redirect_type"] == 302
    assert body["tags"] == []
    assert body["title"] == ""
    assert body["expires_at"] is None
    assert body["max_visits"] is None
    assert body["has_password"] is False


def test_forward_query_and_crawlable_are_off_unless_set(api: ApiClient) -> None:
    plain = api.create(url="https://example.com/?a=1", slug="plain")
    assert (plain["forward_query"], plain["crawlable"]) == (False, False)
    assert api.client.get("/plain?a=2").headers["Location"] == "https://example.com/?a=1"
    both = api.create(
        url="https://example.com/?a=1", slug="both", forward_query=True, crawlable=True
    )
    assert (both["forward_query"], both["crawlable"]) == (True, True)
    assert api.client.get("/both?a=2&b=3").headers["Location"] == "https://example.com/?a=2&b=3"
    assert "Allow: /both$" in api.client.get("/robots.txt").get_data(as_text=True)
    changed = api.patch("/api/v1/links/both", json={"forward_query": False}).get_json()
    assert (changed["forward_query"], changed["crawlable"]) == (False, True)
    assert api.client.get("/both?a=2").headers["Location"] == "https://example.com/?a=1"
    for value in ("yes", 1, None):  # JSON's true and false only
        refused = api.patch("/api/v1/links/both", json={"crawlable": value})
        assert refused.status_code == 422, value
        assert "crawlable" in str(refused.get_json()["errors"])


def test_the_openapi_document_describes_the_switches(api: ApiClient) -> None:
    schemas = api.client.get("/api/openapi.json").get_json()["components"]["schemas"]
    for schema in ("Link", "LinkCreate", "LinkUpdate"):
        for name in ("forward_query", "crawlable"):
            field = schemas[schema]["properties"][name]
            assert field["type"] == "boolean", (schema, name)
            assert "Default false" in field["description"]
    assert {"forward_query", "crawlable"} <= set(schemas["Link"]["required"])


def test_the_created_link_redirects(api: ApiClient) -> None:
    api.create(url="https://example.com/target", slug="go")
    response = api.client.get("/go")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/target"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://example.com/", "unknown": 1}, "unknown"),
        ({"url": "https://example.com/", "redirect_type": 303}, "redirect_type"),
        ({"url": "https://example.com/", "redirect_type": "301"}, "redirect_type"),
        ({"url": "https://example.com/", "max_visits": 0}, "max_visits"),
        ({"url": "https://example.com/", "slug": "has space"}, "slug"),
        ({"url": "https://example.com/", "slug": "api"}, "slug"),
        ({"url": "https://example.com/", "expires_at": "yesterday"}, "expires_at"),
        ({"url": "https://example.com/", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"url": "https://example.com/", "tags": "a,b"}, "tags"),
        ({"url": "https://example.com/", "tags": ["x" * 65]}, "tags.0"),
        ({"url": "https://example.com/", "title": 5}, "title"),
        ({"url": 12}, "url"),
    ],
)
def test_invalid_fields_are_422_with_field_errors(
    api: ApiClient, payload: dict[str, object], field: str
) -> None:
    body = assert_problem(api.post("/api/v1/links", json=payload), 422)
    assert field in body["errors"], body
    assert all(isinstance(m, str) for messages in body["errors"].values() for m in messages)


def test_a_body_that_is_not_an_object_is_422(api: ApiClient) -> None:
    body = assert_problem(api.post("/api/v1/links", json=["https://example.com/"]), 422)
    assert "body" in body["errors"]


def test_a_taken_slug_is_409_even_when_someone_else_owns_it(
    api: ApiClient, client: object, bob: Account
) -> None:
    api.create(slug="mine")
    response = api.post(
        "/api/v1/links", key=bob.key, json={"url": "https://e.com/", "slug": "mine"}
    )
    body = assert_problem(response, 409)
    assert "slug" in body["errors"]


def test_malformed_json_is_400(api: ApiClient) -> None:
    response = api.post("/api/v1/links", data='{"url": ', content_type="application/json")
    body = assert_problem(response, 400)
    assert body["errors"] == {"body": ["Invalid JSON body."]}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(api: ApiClient, content_type: str | None) -> None:
    kwargs = {"data": "url=https://example.com/"}
    if content_type:
        kwargs["content_type"] = content_type
    body = assert_problem(api.post("/api/v1/links", **kwargs), 415)
    assert "Content-Type" in body["errors"]


def test_a_huge_body_is_413(api: ApiClient) -> None:
    payload = json.dumps({"url": "https://example.com/", "title": "x" * 70_000})
    assert_problem(api.post("/api/v1/links", data=payload, content_type="application/json"), 413)


# -- GET /links -------------------------------------------------------------------------------


def test_list_is_paginated_with_total_and_link_header(api: ApiClient) -> None:
    for number in range(5):
        api.create(slug=f"p{number}")
    response = api.get("/api/v1/links?per_page=2&page=2")
    assert response.status_code == 200
    assert [link["slug"] for link in response.get_json()] == ["p2", "p1"]  # newest first
    assert response.headers["X-Total-Count"] == "5"
    assert json.loads(response.headers["X-Pagination"])["total_pages"] == 3
    links = {
        rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])
    }
    assert set(links) == {"first", "prev", "next", "last"}
    assert links["next"].endswith("page=3&per_page=2")
    assert links["prev"].endswith("page=1&per_page=2")
    last = api.get("/api/v1/links?per_page=2&page=3")
    assert [link["slug"] for link in last.get_json()] == ["p0"]
    assert 'rel="next"' not in last.headers["Link"]
    beyond = api.get("/api/v1/links?per_page=2&page=9")
    assert beyond.status_code == 200
    assert beyond.get_json() == []


def test_list_filters_by_tag_text_and_dates(api: ApiClient, app: Flask) -> None:
    api.create(slug="alpha", tags=["red"], title="First thing")
    api.create(slug="beta", tags=["blue"], url="https://docs.example.org/guide")
    api.create(slug="gamma_100", tags=["red", "blue"])

    def slugs(query: str) -> set[str]:
        response = api.get(f"/api/v1/links?{query}")
        assert response.status_code == 200, response.get_json()
        return {link["slug"] for link in response.get_json()}

    assert slugs("tag=red") == {"alpha", "gamma_100"}
    assert slugs("tag=RED") == {"alpha", "gamma_100"}
    assert slugs("q=first") == {"alpha"}
    assert slugs("q=docs.example") == {"beta"}
    assert slugs("q=_1") == {"gamma_100"}  # LIKE wildcards are escaped
    assert slugs("q=%25") == set()
    assert slugs("tag=blue&q=gamma") == {"gamma_100"}
    past, later = "2000-01-01T00:00:00Z", future(1).replace("+00:00", "Z")
    assert slugs(f"created_after={past}") == {"alpha", "beta", "gamma_100"}
    assert slugs(f"created_after={later}") == set()
    assert slugs(f"created_before={past}") == set()


@pytest.mark.parametrize(
    "query", ["per_page=0", "per_page=101", "page=0", "page=x", "created_after=soon", "tag="]
)
def test_bad_list_arguments_are_422(api: ApiClient, query: str) -> None:
    body = assert_problem(api.get(f"/api/v1/links?{query}"), 422)
    assert body["errors"]


# -- GET /links/<slug> ------------------------------------------------------------------------


def test_read_has_an_etag_and_answers_304(api: ApiClient) -> None:
    created = api.create(slug="cached")
    response = api.get("/api/v1/links/cached")
    assert response.status_code == 200
    assert response.get_json() == created
    etag = response.headers["ETag"]
    again = api.get("/api/v1/links/cached", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""


def test_unknown_slug_is_404(api: ApiClient) -> None:
    assert_problem(api.get("/api/v1/links/nothing-here"), 404)


# -- PATCH /links/<slug> ----------------------------------------------------------------------


def test_patch_changes_only_what_is_sent(api: ApiClient) -> None:
    api.create(slug="edit", title="Old", tags=["a"], max_visits=3, expires_at=future())
    response = api.patch("/api/v1/links/edit", json={"title": "New", "max_visits": None})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["title"] == "New"
    assert body["max_visits"] is None
    assert body["tags"] == ["a"]
    assert body["expires_at"] is not None
    assert response.headers["ETag"] == api.get("/api/v1/links/edit").headers["ETag"]


def test_patch_sets_and_removes_a_password_and_renames(api: ApiClient) -> None:
    api.create(slug="secret")
    assert api.patch("/api/v1/links/secret", json={"password": "pw"}).get_json()["has_password"]
    assert not api.patch("/api/v1/links/secret", json={"password": None}).get_json()["has_password"]
    renamed = api.patch("/api/v1/links/secret", json={"slug": "public", "expires_at": None})
    assert renamed.status_code == 200
    assert renamed.get_json()["slug"] == "public"
    assert_problem(api.get("/api/v1/links/secret"), 404)
    assert api.get("/api/v1/links/public").status_code == 200


def test_patch_with_if_match(api: ApiClient) -> None:
    api.create(slug="guarded")
    etag = api.get("/api/v1/links/guarded").headers["ETag"]
    ok = api.patch("/api/v1/links/guarded", json={"title": "v2"}, headers={"If-Match": etag})
    assert ok.status_code == 200
    stale = api.patch("/api/v1/links/guarded", json={"title": "v3"}, headers={"If-Match": etag})
    body = assert_problem(stale, 412)
    assert "If-Match" in body["errors"]
    assert api.get("/api/v1/links/guarded").get_json()["title"] == "v2"
    star = api.patch("/api/v1/links/guarded", json={"title": "v4"}, headers={"If-Match": "*"})
    assert star.status_code == 200


def test_patch_errors(api: ApiClient, bob: Account) -> None:
    api.create(slug="one")
    api.create(slug="two")
    assert_problem(api.patch("/api/v1/links/one", json={"slug": "two"}), 409)
    assert_problem(api.patch("/api/v1/links/one", json={"url": "ftp://x"}), 422)
    assert_problem(api.patch("/api/v1/links/one", json={"bogus": True}), 422)
    assert_problem(api.patch("/api/v1/links/none", json={"title": "x"}), 404)
    assert api.get("/api/v1/links/one").get_json()["slug"] == "one"
    empty = api.patch("/api/v1/links/one", json={})
    assert empty.status_code == 200


# -- DELETE /links/<slug> ---------------------------------------------------------------------


def test_delete(api: ApiClient) -> None:
    api.create(slug="gone")
    etag = api.get("/api/v1/links/gone").headers["ETag"]
    assert_problem(api.delete("/api/v1/links/gone", headers={"If-Match": '"other"'}), 412)
    response = api.delete("/api/v1/links/gone", headers={"If-Match": etag})
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(api.get("/api/v1/links/gone"), 404)
    assert_problem(api.delete("/api/v1/links/gone"), 404)
    assert api.client.get("/gone").status_code == 404


# -- QR codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mimetype", "magic"),
    [
        ("svg", "image/svg+xml", b"<?xml"),
        ("png", "image/png", b"\x89PNG"),
    ],
)
def test_qr_codes(api: ApiClient, kind: str, mimetype: str, magic: bytes) -> None:
    api.create(slug="qr")
    response = api.get(f"/api/v1/links/qr/qr.{kind}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert response.get_data().startswith(magic)
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    etag = response.headers["ETag"]
    assert (
        api.get(f"/api/v1/links/qr/qr.{kind}", headers={"If-None-Match": etag}).status_code == 304
    )
    bigger = api.get(f"/api/v1/links/qr/qr.{kind}?scale=20&margin=0")
    assert bigger.status_code == 200
    assert bigger.headers["ETag"] != etag
    assert len(bigger.get_data()) != len(response.get_data())


@pytest.mark.parametrize("query", ["scale=0", "scale=41", "margin=-1", "margin=17", "scale=big"])
def test_qr_size_is_bounded(api: ApiClient, query: str) -> None:
    api.create(slug="qr")
    assert_problem(api.get(f"/api/v1/links/qr/qr.png?{query}"), 422)


def test_png_size_follows_scale(api: ApiClient) -> None:
    api.create(slug="qr")
    small = api.get("/api/v1/links/qr/qr.png?scale=1&margin=0").get_data()
    large = api.get("/api/v1/links/qr/qr.png?scale=10&margin=0").get_data()
    width_small = int.from_bytes(small[16:20], "big")
    width_large = int.from_bytes(large[16:20], "big")
    assert width_large == 10 * width_small


# -- stats ------------------------------------------------------------------------------------


def test_stats(api: ApiClient) -> None:
    api.create(slug="counted")
    response = api.get("/api/v1/links/counted/stats?from=2026-01-01&to=2026-01-03&granularity=day")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["slug"] == "counted"
    assert body["granularity"] == "day"
    assert len(body["series"]) == 3
    assert set(body["totals"]) == {"visits", "humans", "bots", "unique_visitors"}
    assert set(body["top"]) == {"referrers", "browsers", "os", "devices", "countries"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=garbage", "from"),
        ("from=2026-02-01&to=2026-01-01", "from"),
        ("granularity=year", "granularity"),
    ],
)
def test_bad_stats_periods_are_422(api: ApiClient, query: str, field: str) -> None:
    api.create(slug="counted")
    body = assert_problem(api.get(f"/api/v1/links/counted/stats?{query}"), 422)
    assert field in body["errors"]


# -- routing errors ---------------------------------------------------------------------------


def test_routing_errors_are_problems_too(api: ApiClient) -> None:
    response = api.request("PUT", "/api/v1/links", json={})
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]
    assert_problem(api.get("/api/v1/nothing"), 404)
    assert_problem(api.get("/api/v1/links/a/b/c"), 404)


def test_nul_bytes_are_refused_not_500(api: ApiClient) -> None:
    """PostgreSQL cannot store NUL in text: found by schemathesis, refused up front now."""
    api.create(slug="safe")
    assert_problem(api.get("/api/v1/links?q=a%00b"), 422)
    assert_problem(api.get("/api/v1/links?tag=a%00b"), 422)
    assert_problem(api.get("/api/v1/links/sa%00fe"), 404)
    assert_problem(api.get("/api/v1/links/sa%00fe/qr.svg"), 404)
    for field, value in (("title", "a\x00b"), ("tags", ["a\x00"]), ("password", "p\x00w")):
        body = assert_problem(
            api.post("/api/v1/links", json={"url": "https://e.com/", field: value}), 422
        )
        assert any(key.startswith(field) for key in body["errors"]), body
        assert_problem(api.patch("/api/v1/links/safe", json={field: value}), 422)
    report = api.post(
        "/api/v1/links/import", data="url,title\nhttps://e.com/,a\x00b\n", content_type="text/csv"
    ).get_json()
    assert report["failed"] == 1
    assert "title" in report["errors"][0]["errors"]


def test_an_unexpected_error_is_a_500_problem(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.links.queries as queries

    def broken(_user: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(queries, "visible_links", broken)
    body = assert_problem(api.get("/api/v1/links"), 500)
    assert "database on fire" not in json.dumps(body)  # no internals leak
    assert body["request_id"]
