"""Kutt API v2 (``/api/v2``): every endpoint, its shapes and its errors, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from service.analytics.models import DailyDimension, HourlyVisits
from service.extensions import db
from service.kutt.ids import public_id
from service.links.models import Link
from service.links.services import update_link
from tests.fixtures.accounts import Account, AccountFactory, ApiClient
from tests.fixtures.app import AppFactory
from tests.kutt.conftest import KuttClient, error_of

pytestmark = pytest.mark.integration

LINK_KEYS = {
    "address", "banned", "created_at", "description", "domain", "expire_in", "id", "link",
    "password", "target", "updated_at", "visit_count",
}  # fmt: skip
#: An id no link has (fixed: xdist workers must collect the same test ids).
ANY_ID = "5f0c1a2e-7b3d-4c8e-9a6f-2d4b8e1c3a70"
ENDPOINTS = [
    ("GET", "/links"),
    ("POST", "/links"),
    ("PATCH", f"/links/{ANY_ID}"),
    ("DELETE", f"/links/{ANY_ID}"),
    ("GET", f"/links/{ANY_ID}/stats"),
    ("DELETE", f"/links/{ANY_ID}/stats"),
    ("GET", "/users"),
]
WRITES = [("POST", "/links"), ("PATCH", ENDPOINTS[2][1]), ("DELETE", ENDPOINTS[3][1])]


def _moment(text: str) -> datetime:
    assert len(text) == 24, text  # 2026-12-02T01:00:00.000Z
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_health_answers_ok_without_a_key(kutt: KuttClient) -> None:
    response = kutt.client.get("/api/v2/health")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "OK"
    assert response.mimetype == "text/html"


def test_missing_and_unknown_keys_are_unauthorized(make_app: AppFactory, alice: Account) -> None:
    # One test for every case: each test builds its app and tables, and these need one;
    # a failure budget that does not run out before the cases do.
    app = make_app(API_AUTH_FAILURE_LIMIT="100 per minute")
    kutt = KuttClient(app.test_client(), alice)
    for method, path in ENDPOINTS:
        for key in ["", "wrong", "lf_AAAAAAAA_" + "A" * 43]:
            response = kutt.request(method, path, key=key, json={"target": "https://e.com/"})
            assert error_of(response, 401) == "Unauthorized.", (method, path, key)


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_read_only_key_may_not_write(kutt: KuttClient, method: str, path: str) -> None:
    response = kutt.request(
        method, path, key=kutt.account.read_key, json={"target": "https://example.com/"}
    )
    assert "read-only" in error_of(response, 403)


def test_the_bearer_key_header_of_api_v1_is_not_a_kutt_key(kutt: KuttClient) -> None:
    response = kutt.client.get("/api/v2/links", headers=kutt.account.auth)
    assert error_of(response, 401) == "Unauthorized."


def test_unknown_keys_spend_the_clients_failure_budget(make_app: AppFactory) -> None:
    app = make_app(API_AUTH_FAILURE_LIMIT="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/v2/links", headers={"X-API-Key": "nope"}).status_code == 401
    blocked = client.get("/api/v2/links", headers={"X-API-Key": "nope"})
    assert "Too many invalid API keys" in error_of(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    # The same budget as /api/v1's: the Bearer API is closed to this client too.
    assert client.get("/api/v1/links", headers={"Authorization": "Bearer x"}).status_code == 429


def test_create_answers_the_kutt_link(kutt: KuttClient, app: Flask) -> None:
    before = datetime.now(UTC)
    link = kutt.create(
        target="https://example.com/a?b=c",
        customurl="kutt-demo",
        description="  A   demo ",
        expire_in="2 minutes",
        password="secret",
    )
    assert set(link) == LINK_KEYS
    assert uuid.UUID(link["id"]).version == 8
    assert link["address"] == "kutt-demo"
    assert link["link"] == "http://localhost/kutt-demo"
    assert link["target"] == "https://example.com/a?b=c"
    assert link["description"] == "A demo"
    assert link["password"] is True
    assert link["banned"] is False
    assert link["domain"] is None
    assert link["visit_count"] == 0
    expiry = _moment(link["expire_in"]) - before
    assert timedelta(minutes=2) <= expiry < timedelta(minutes=2, seconds=10)
    assert _moment(link["created_at"]) >= before.replace(microsecond=0)
    # The same link, written by the same services, for the v1 API and the redirect.
    with app.app_context():
        row = db.session.query(Link).filter_by(slug="kutt-demo").one()
        assert row.title == "A demo"
        assert row.password_hash is not None


def test_create_takes_a_urlencoded_body_and_adds_the_protocol(kutt: KuttClient) -> None:
    response = kutt.request("POST", "/links", data={"target": "example.com/path", "reuse": "false"})
    assert response.status_code == 201, response.get_json()
    link = response.get_json()
    assert link["target"] == "http://example.com/path"
    assert link["description"] is None
    assert link["password"] is False
    assert link["expire_in"] is None
    assert kutt.client.get(f"/{link['address']}").headers["Location"] == link["target"]


def test_reuse_answers_the_owners_link_to_the_same_target(kutt: KuttClient) -> None:
    first = kutt.create(target="https://example.com/same")
    again = kutt.request(
        "POST", "/links", json={"target": "https://example.com/same", "reuse": True}
    )
    assert again.status_code == 200
    assert again.get_json() == first
    other = kutt.request("POST", "/links", json={"target": "https://example.com/same"})
    assert other.status_code == 201
    assert other.get_json()["id"] != first["id"]


def test_the_default_domain_is_accepted_and_others_refused(kutt: KuttClient) -> None:
    for own in ("localhost", "www.localhost", "http://localhost/", "", None):
        assert kutt.create(domain=own)["domain"] is None
    response = kutt.request(
        "POST", "/links", json={"target": "https://example.com/", "domain": "other.example"}
    )
    assert error_of(response, 400) == "You can't use this domain."


CREATE_ERRORS = [
    ({}, "Target is missing."),
    ({"target": ""}, "Target is missing."),
    ({"target": ["https://example.com/"]}, "URL is not valid."),
    ({"target": "ftp://example.com/"}, "Only http:// and https:// links are allowed."),
    ({"target": "javascript:alert(1)"}, "Only http:// and https:// links are allowed."),
    ({"target": "https://example.com/" + "a" * 2100}, "Maximum URL length is 2048."),
    ({"target": "http://localhost/abc"}, "pointing at it would redirect in a loop"),
    ({"password": "ab"}, "Password length must be between 3 and 64."),
    ({"password": "a" * 65}, "Password length must be between 3 and 64."),
    ({"customurl": "a b"}, "Custom URL is not valid."),
    ({"customurl": "a" * 65}, "Custom URL length must be between 1 and 64."),
    ({"customurl": "dashboard"}, "You can't use this custom URL."),
    ({"customurl": "API"}, "You can't use this custom URL."),
    ({"reuse": "maybe"}, "Reuse must be boolean."),
    ({"description": "d" * 201}, "Description length must be between 1 and 200."),
    ({"description": "bell\x07"}, "Description must not contain control characters."),
    ({"expire_in": "soon"}, "Expire format is invalid. Valid examples: 1m, 8h, 42 days."),
    ({"expire_in": 5}, "Expire format is invalid. Valid examples: 1m, 8h, 42 days."),
    ({"expire_in": "30s"}, "Expire time should be more than 1 minute."),
    ({"expire_in": "-5m"}, "Expire time should be more than 1 minute."),
    ({"expire_in": "200 years"}, "Expire time should be less than 100 years."),
    ({"expire_in": "9" * 99}, "Expire time should be less than 100 years."),
    ({"domain": 3}, "Domain should be string."),
]


def test_create_refuses_bad_fields_with_kutts_messages(kutt: KuttClient) -> None:
    for fields, message in CREATE_ERRORS:
        body = (
            fields if "target" in fields or not fields else {"target": "https://e.com/", **fields}
        )
        response = kutt.request("POST", "/links", json=body)
        assert message in error_of(response, 400), (fields, message)


def test_a_taken_custom_url_is_409(kutt: KuttClient, bob: Account) -> None:
    kutt.create(customurl="taken")
    mine = kutt.request("POST", "/links", json={"target": "https://e.com/", "customurl": "taken"})
    assert error_of(mine, 409) == "Custom URL is already in use."
    theirs = kutt.request(
        "POST", "/links", key=bob.key, json={"target": "https://e.com/", "customurl": "taken"}
    )
    assert error_of(theirs, 409) == "Custom URL is already in use."


UNREADABLE_BODIES = [
    (b'{"target": ', "application/json", 400, "The request body is not valid JSON."),
    (b"[1, 2]", "application/json", 400, "Target is missing."),
    (b"target=https://example.com/", "text/plain", 400, "Target is missing."),
    (b"x" * (65 * 1024), "application/json", 413, "Request entity too large."),
]


def test_bodies_that_cannot_be_read_are_errors_not_crashes(kutt: KuttClient) -> None:
    for data, content_type, status, message in UNREADABLE_BODIES:
        response = kutt.request("POST", "/links", data=data, content_type=content_type)
        assert error_of(response, status) == message, (data[:20], content_type)


ODD_BODIES: list[dict[str, Any]] = [
    {"target": None, "customurl": None, "password": None},
    {"target": {"a": 1}},
    {"target": "https://e.com/", "customurl": ["x"], "password": 12345},
    {"target": "https://e.com/", "description": {"x": 1}, "expire_in": [1]},
    {"target": "https://e.com/", "reuse": [True]},
    {"target": "https://e.com/", "domain": ["localhost"]},
    {"target": "https://e.com/\x00"},
    {"target": "https://e.com/", "password": "abc\x00"},
    {"target": "http://[::1", "customurl": "\u00e9t\u00e9"},
]


def test_odd_values_are_400_never_500(kutt: KuttClient) -> None:
    created = kutt.create()
    for body in ODD_BODIES:
        assert kutt.request("POST", "/links", json=body).status_code == 400, body
        patched = kutt.request("PATCH", f"/links/{created['id']}", json=body)
        assert patched.status_code in {200, 400}, (body, patched.get_json())  # PATCH ignores reuse


def test_the_list_pages_with_skip_and_limit(kutt: KuttClient, bob: Account) -> None:
    made = [kutt.create(customurl=f"list-{n}")["id"] for n in range(5)]
    kutt.request("POST", "/links", key=bob.key, json={"target": "https://bob.example/"})
    page = kutt.request("GET", "/links?skip=1&limit=2").get_json()
    assert (page["total"], page["skip"], page["limit"]) == (5, 1, 2)
    assert [link["id"] for link in page["data"]] == [made[3], made[2]]  # newest first
    assert all(set(link) == LINK_KEYS for link in page["data"])
    default = kutt.request("GET", "/links").get_json()
    assert (default["limit"], default["skip"], len(default["data"])) == (10, 0, 5)
    assert kutt.request("GET", "/links?limit=500").get_json()["limit"] == 50
    assert kutt.request("GET", "/links?limit=3abc&skip=-4").get_json()["limit"] == 3
    assert kutt.request("GET", "/links?limit=x&skip=99999999999999999999").get_json()["data"] == []
    found = kutt.request("GET", "/links?search=list-3").get_json()
    assert [link["address"] for link in found["data"]] == ["list-3"]


@pytest.mark.parametrize("name", ["limit", "skip", "search"])
def test_a_repeated_list_argument_is_refused(kutt: KuttClient, name: str) -> None:
    response = kutt.request("GET", f"/links?{name}=1&{name}=2")
    assert error_of(response, 400) == f"{name} query is not valid."


def test_a_search_with_control_characters_is_refused(kutt: KuttClient) -> None:
    response = kutt.request("GET", "/links?search=a%00b")
    assert error_of(response, 400) == "search query is not valid."


def test_an_id_of_ours_beyond_any_link_is_404(kutt: KuttClient) -> None:
    far = public_id(2**62 - 1, datetime.now(UTC))
    assert error_of(kutt.request("GET", f"/links/{far}/stats"), 404) == "Link could not be found."


def test_all_lists_everyones_links_for_admins_only(
    kutt: KuttClient, make_account: AccountFactory
) -> None:
    admin = make_account("root@example.com", admin=True)
    kutt.create()
    kutt.request("POST", "/links", key=admin.key, json={"target": "https://admin.example/"})
    assert kutt.request("GET", "/links", key=admin.key).get_json()["total"] == 1
    assert kutt.request("GET", "/links?all=true", key=admin.key).get_json()["total"] == 2
    assert kutt.request("GET", "/links?all=true").get_json()["total"] == 1


def test_edit_changes_what_is_sent_and_keeps_the_id(kutt: KuttClient) -> None:
    link = kutt.create(customurl="before", password="secret")
    response = kutt.request(
        "PATCH",
        f"/links/{link['id']}",
        json={
            "target": "https://example.com/after",
            "address": "after",
            "description": "Changed",
            "expire_in": "1 day",
        },
    )
    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    assert changed["id"] == link["id"]
    assert changed["address"] == "after"
    assert changed["target"] == "https://example.com/after"
    assert changed["description"] == "Changed"
    assert changed["password"] is True  # not sent: kept
    assert _moment(changed["expire_in"]) - datetime.now(UTC) > timedelta(hours=23)
    assert kutt.client.get("/before").status_code == 404
    assert kutt.client.get("/after").status_code == 200  # the password form
    bullets = kutt.request("PATCH", f"/links/{link['id']}", json={"password": "•••", "target": ""})
    assert error_of(bullets, 400) == "Should at least update one field."
    removed = kutt.request("PATCH", f"/links/{link['id']}", data={"password": ""})
    assert removed.status_code == 200
    assert removed.get_json()["password"] is False
    again = kutt.request("PATCH", f"/links/{link['id']}", json={"password": "new-secret"})
    assert again.get_json()["password"] is True


def test_edit_refusals(kutt: KuttClient, bob: Account) -> None:
    link = kutt.create(customurl="mine")
    kutt.create(customurl="other")
    path = f"/links/{link['id']}"
    same = {"target": "https://example.com/", "address": "mine"}
    assert error_of(kutt.request("PATCH", path, json=same), 400) == (
        "Should at least update one field."
    )
    taken = kutt.request("PATCH", path, json={"address": "other"})
    assert error_of(taken, 409) == "Custom URL is already in use."
    assert error_of(kutt.request("PATCH", path, json={"address": "a/b"}), 400) == (
        "Custom URL is not valid"
    )
    theirs = kutt.request("PATCH", path, key=bob.key, json={"target": "https://bob.example/"})
    assert error_of(theirs, 404) == "Link was not found."
    unknown = kutt.request("PATCH", f"/links/{uuid.uuid4()}", json={"address": "x"})
    assert error_of(unknown, 404) == "Link was not found."
    assert error_of(kutt.request("PATCH", "/links/123", json={}), 400) == "ID is invalid."


def test_delete_removes_the_link(kutt: KuttClient, bob: Account) -> None:
    link = kutt.create(customurl="doomed")
    path = f"/links/{link['id']}"
    assert error_of(kutt.request("DELETE", path, key=bob.key), 404) == "Could not delete the link."
    response = kutt.request("DELETE", path)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Link has been deleted successfully."}
    assert kutt.client.get("/doomed").status_code == 404
    assert error_of(kutt.request("DELETE", path), 404) == "Could not delete the link."
    assert error_of(kutt.request("DELETE", "/links/short"), 400) == "ID is invalid."


def test_an_id_is_not_reused_by_a_link_that_takes_a_deleted_links_row_id(
    kutt: KuttClient, app: Flask
) -> None:
    link = kutt.create(customurl="first")
    with app.app_context():
        row = db.session.query(Link).filter_by(slug="first").one()
        row.created_at = row.created_at - timedelta(days=1)  # as a new link in the same row
        db.session.commit()
    stale = kutt.request("DELETE", f"/links/{link['id']}")
    assert error_of(stale, 404) == "Could not delete the link."


def _visits(app: Flask, slug: str) -> None:
    """What the analytics worker writes for three clicks this hour (two Chrome, one other)."""
    now = datetime.now(UTC)
    with app.app_context():
        link_id = db.session.query(Link.id).filter_by(slug=slug).scalar()
        hour = now.replace(minute=0, second=0, microsecond=0)
        day: date = now.date()
        db.session.add(HourlyVisits(link_id=link_id, hour=hour, visits=3, bot_visits=1))
        for dimension, value, count in [
            ("browser", "Chrome", 2), ("browser", "Samsung Internet", 1),
            ("os", "Mac OS X", 3), ("country", "DE", 3), ("referrer", "", 3),
        ]:  # fmt: skip
            db.session.add(
                DailyDimension(
                    link_id=link_id, dimension=dimension, day=day, value=value, visits=count
                )
            )
        db.session.commit()


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_stats_in_kutts_shape(kutt: KuttClient, app: Flask, method: str) -> None:
    link = kutt.create(customurl="counted")
    _visits(app, "counted")
    response = kutt.request(method, f"/links/{link['id']}/stats", key=kutt.account.read_key)
    assert response.status_code == 200, response.get_json()
    stats = response.get_json()
    assert set(stats) == LINK_KEYS | {"lastDay", "lastWeek", "lastMonth", "lastYear", "updatedAt"}
    assert stats["id"] == link["id"]
    assert stats["visit_count"] == 3
    for period, buckets in [("lastDay", 24), ("lastWeek", 7), ("lastMonth", 30), ("lastYear", 12)]:
        assert len(stats[period]["views"]) == buckets, period
        assert stats[period]["views"][-1] == 3, period
        assert stats[period]["total"] == 3, period
        breakdown = stats[period]["stats"]
        assert breakdown["browser"][0] == {"name": "chrome", "value": 2}
        assert {"name": "other", "value": 1} in breakdown["browser"]
        assert {item["name"] for item in breakdown["browser"]} == {
            "chrome", "edge", "firefox", "ie", "opera", "other", "safari",
        }  # fmt: skip
        assert breakdown["os"][0] == {"name": "macos", "value": 3}
        assert breakdown["country"] == [{"name": "de", "value": 3}]
        assert breakdown["referrer"] == [{"name": "direct", "value": 3}]
    assert kutt.client.get(f"/api/v2/links/{link['id']}").status_code == 405
    # Deleting the stats deletes nothing.
    assert kutt.client.get("/counted").status_code == 302


def test_stats_of_an_unknown_link(kutt: KuttClient) -> None:
    response = kutt.request("GET", f"/links/{uuid.uuid4()}/stats")
    assert error_of(response, 404) == "Link could not be found."


def test_users_tells_the_key_and_email(kutt: KuttClient) -> None:
    response = kutt.request("GET", "/users", key=kutt.account.read_key)
    assert response.get_json() == {
        "apikey": kutt.account.read_key,
        "email": "alice@example.com",
        "domains": [],
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # no session is touched


def test_paths_and_methods_kutt_does_not_have_answer_in_kutts_form(kutt: KuttClient) -> None:
    assert error_of(kutt.request("POST", "/auth/login"), 404) == "Not found."
    protected = kutt.request("POST", f"/links/{uuid.uuid4()}/protected", json={"password": "x"})
    assert error_of(protected, 404) == "Not found."
    wrong = kutt.request("PUT", "/links")
    assert error_of(wrong, 405) == "Method not allowed."
    assert wrong.headers["Allow"] == "GET, POST"


def test_a_link_made_through_kutt_is_a_link_of_api_v1(kutt: KuttClient, api: ApiClient) -> None:
    made = kutt.create(customurl="both-apis", description="Both")
    v1 = api.get("/api/v1/links/both-apis").get_json()
    assert (v1["url"], v1["title"]) == (made["target"], "Both")
    api.patch("/api/v1/links/both-apis", json={"title": "Renamed"})
    listed = kutt.request("GET", "/links").get_json()["data"]
    assert listed[0]["description"] == "Renamed"
    assert listed[0]["id"] == made["id"]


def test_writes_spend_the_keys_budget_shared_with_api_v1(
    make_app: AppFactory, make_account: AccountFactory
) -> None:
    app = make_app(API_WRITE_RATE_LIMIT="2 per minute")
    account = make_account("limited@example.com")
    client = app.test_client()
    v1 = client.post("/api/v1/links", json={"url": "https://e.com/1"}, headers=account.auth)
    assert v1.status_code == 201
    kutt = KuttClient(client, account)
    assert kutt.request("POST", "/links", json={"target": "https://e.com/2"}).status_code == 201
    refused = kutt.request("POST", "/links", json={"target": "https://e.com/3"})
    assert "Too many write requests for this API key" in error_of(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert kutt.request("GET", "/links").status_code == 200  # reads have their own budget


def test_an_expiry_within_a_minute_of_the_current_one_is_no_change(kutt: KuttClient) -> None:
    link = kutt.create(expire_in="1 day")
    path = f"/links/{link['id']}"
    assert error_of(kutt.request("PATCH", path, json={"expire_in": "1 day"}), 400) == (
        "Should at least update one field."
    )
    longer = kutt.request("PATCH", path, json={"expire_in": "2 days"}).get_json()
    assert _moment(longer["expire_in"]) - _moment(link["expire_in"]) > timedelta(hours=23)


def test_a_disabled_link_is_banned(kutt: KuttClient, app: Flask) -> None:
    link = kutt.create(customurl="switched-off")
    with app.app_context():
        row = db.session.query(Link).filter_by(slug="switched-off").one()
        update_link(row, disabled=True)
    listed = kutt.request("GET", "/links").get_json()["data"]
    assert [item["banned"] for item in listed if item["id"] == link["id"]] == [True]


def test_an_administrators_key_reaches_every_link(
    kutt: KuttClient, make_account: AccountFactory
) -> None:
    admin = make_account("boss@example.com", admin=True)
    link = kutt.create()
    changed = kutt.request(
        "PATCH", f"/links/{link['id']}", key=admin.key, json={"description": "Seen by the admin"}
    )
    assert changed.get_json()["description"] == "Seen by the admin"
    stats = kutt.request("GET", f"/links/{link['id']}/stats", key=admin.key)
    assert stats.status_code == 200
