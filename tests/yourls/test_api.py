"""``/yourls-api.php`` as YOURLS 1.10 answers: every action, format, way to authenticate and
error, on both databases, through the same links service and read side as the REST API."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from service.analytics.models import HourlyVisits
from service.api.keys import find_active_key, revoke
from service.extensions import db
from service.links.models import Link
from service.yourls import actions
from service.yourls.auth import signature_token
from tests.fixtures.accounts import Account, AccountFactory
from tests.fixtures.app import AppFactory
from tests.fixtures.users import WebHelper
from tests.yourls.conftest import API, YourlsClient, body

LONG_URL = "https://example.com/a/very/long/path/that/goes/on/and/on/for/more/than/sixty/chars"


def _stored(app: Flask, slug: str) -> Link | None:
    with app.app_context():
        return db.session.scalar(select(Link).where(Link.slug == slug))


# -- shorturl -------------------------------------------------------------------------------


def test_shorturl_creates_the_link_and_answers_as_yourls(
    yourls: YourlsClient, app: Flask, alice: Account
) -> None:
    response = yourls.call(action="shorturl", url=LONG_URL, keyword="docs", title="The docs")
    assert response.status_code == 200
    assert response.content_type == "application/json; charset=utf-8"
    result = body(response)
    assert list(result) == [
        "status", "code", "message", "errorCode", "statusCode", "url", "title", "shorturl",
    ]  # fmt: skip
    assert result["status"] == "success"
    assert (result["code"], result["errorCode"], result["statusCode"]) == ("", "", "200")
    assert result["message"] == LONG_URL[:55] + "[...] added to database"
    assert result["shorturl"] == "http://localhost/docs"
    assert result["title"] == "The docs"
    url = result["url"]
    assert list(url) == ["keyword", "url", "title", "date", "ip"]
    assert (url["keyword"], url["url"], url["title"], url["ip"]) == (
        "docs", LONG_URL, "The docs", ""
    )  # fmt: skip
    datetime.strptime(url["date"], "%Y-%m-%d %H:%M:%S")
    link = _stored(app, "docs")
    assert link is not None
    assert (link.url, link.title, link.owner_id) == (LONG_URL, "The docs", alice.id)
    # The REST API sees the same link: one write path.
    api_view = yourls.client.get("/api/v1/links/docs", headers=alice.auth)
    assert api_view.get_json()["title"] == "The docs"


def test_shorturl_by_post_form_with_a_random_keyword_and_simple_output(
    yourls: YourlsClient, app: Flask, alice: Account
) -> None:
    response = yourls.post(
        action="shorturl", url="https://example.com/post", signature=alice.key, format="simple"
    )
    assert response.status_code == 200
    assert response.content_type == "text/plain; charset=utf-8"
    short = response.get_data(as_text=True)
    slug = short.removeprefix("http://localhost/")
    link = _stored(app, slug)
    assert link is not None
    assert link.url == "https://example.com/post"
    assert link.title == ""  # no page is fetched for a title


def test_a_taken_or_reserved_keyword_is_error_keyword_400(
    yourls: YourlsClient, make_account: AccountFactory
) -> None:
    bob = make_account("bob@example.com")
    assert yourls.call(action="shorturl", url="https://e.com/1", keyword="k1").status_code == 200
    bobs = yourls.call(action="shorturl", url="https://e.com/2", keyword="k2", signature=bob.key)
    assert bobs.status_code == 200
    for keyword in ("k1", "k2", "api", "dashboard"):
        response = yourls.call(action="shorturl", url="https://e.com/new", keyword=keyword)
        assert response.status_code == 400
        assert body(response) == {
            "status": "fail",
            "code": "error:keyword",
            "message": f"Short URL {keyword} already exists in database or is reserved",
            "errorCode": "400",
            "statusCode": "400",
        }
    too_long = yourls.call(action="shorturl", url="https://e.com/new", keyword="k" * 65)
    assert body(too_long)["message"].endswith(
        "is not a valid keyword: use 1 to 64 of A-Z a-z 0-9 - _"
    )
    bad = yourls.call(action="shorturl", url="https://e.com/new", keyword="no spaces!")
    assert bad.status_code == 400
    assert body(bad)["code"] == "error:keyword"
    assert body(bad)["message"] == (
        "Short URL no spaces! is not a valid keyword: use 1 to 64 of A-Z a-z 0-9 - _"
    )
    simple = yourls.call(action="shorturl", url="https://e.com/new", keyword="k1", format="simple")
    assert (simple.status_code, simple.get_data(as_text=True)) == (400, "")


def test_a_url_already_shortened_is_error_url_400_unless_unique_urls_are_off(
    make_app: AppFactory, make_account: AccountFactory, app: Flask
) -> None:
    alice, bob = make_account("alice@example.com"), make_account("bob@example.com")
    client = YourlsClient(app.test_client(), alice)
    first = body(client.call(action="shorturl", url="https://e.com/same", keyword="first"))
    again = client.call(action="shorturl", url="https://e.com/same", keyword="second")
    assert again.status_code == 400
    result = body(again)
    assert list(result) == [
        "status", "code", "message", "errorCode", "statusCode", "url", "title", "shorturl",
    ]  # fmt: skip
    assert (result["status"], result["code"]) == ("fail", "error:url")
    assert (result["errorCode"], result["statusCode"]) == ("400", "400")
    assert result["message"] == (
        "https://e.com/same already exists in database (short URL: localhost/first)"
    )
    assert result["shorturl"] == first["shorturl"]
    assert result["url"]["keyword"] == "first"
    assert result["url"]["clicks"] == 0
    assert list(result["url"]) == ["keyword", "url", "title", "date", "ip", "clicks"]
    # Another account's link to the same URL is none of alice's business.
    bobs = client.call(action="shorturl", url="https://e.com/same", signature=bob.key)
    assert bobs.status_code == 200
    duplicates = make_app(YOURLS_UNIQUE_URLS=False)
    twice = YourlsClient(duplicates.test_client(), alice)
    assert twice.call(action="shorturl", url="https://e.com/same").status_code == 200


def test_a_missing_or_refused_url_is_error_nourl(yourls: YourlsClient) -> None:
    for url in ("", "ftp://example.com/file", "javascript:alert(1)", "https://", "not a url"):
        response = yourls.call(action="shorturl", url=url)
        assert response.status_code == 400
        assert body(response) == {
            "status": "fail",
            "code": "error:nourl",
            "message": "Missing or malformed URL",
            "errorCode": "400",
            "statusCode": "400",
        }


def test_a_url_of_this_service_is_error_noloop(yourls: YourlsClient) -> None:
    response = yourls.call(action="shorturl", url="http://localhost/abc")
    assert response.status_code == 400
    assert body(response)["code"] == "error:noloop"
    assert body(response)["message"] == "URL is a short URL"


def test_body_fields_win_over_the_query_string(yourls: YourlsClient, alice: Account) -> None:
    response = yourls.client.post(
        API + "?format=xml&keyword=from-query&url=https://e.com/query",
        data={"action": "shorturl", "signature": alice.key, "format": "json",
              "keyword": "from-body", "url": "https://e.com/body"},
    )  # fmt: skip
    assert body(response)["url"]["keyword"] == "from-body"
    assert body(response)["url"]["url"] == "https://e.com/body"


def test_an_administrator_sees_every_link(
    yourls: YourlsClient, make_account: AccountFactory
) -> None:
    yourls.call(action="shorturl", url="https://e.com/alices", keyword="alices")
    admin = make_account("admin@example.com", admin=True)
    seen = yourls.call(action="expand", shorturl="alices", signature=admin.key)
    assert body(seen)["longurl"] == "https://e.com/alices"
    assert body(yourls.call(action="db-stats", signature=admin.key))["db-stats"]["total_links"] == 1


def test_a_read_key_cannot_shorten_but_can_read(yourls: YourlsClient, alice: Account) -> None:
    response = yourls.call(action="shorturl", url="https://e.com/r", signature=alice.read_key)
    assert response.status_code == 403
    assert body(response) == {
        "status": "fail",
        "code": "error:scope",
        "message": "This API key is read-only; create a read-write key to shorten URLs.",
        "errorCode": "403",
        "statusCode": "403",
    }
    yourls.call(action="shorturl", url="https://e.com/r", keyword="readable")
    expanded = yourls.call(action="expand", shorturl="readable", signature=alice.read_key)
    assert body(expanded)["longurl"] == "https://e.com/r"


def test_a_title_is_made_one_line_and_cut_to_the_limit(yourls: YourlsClient, app: Flask) -> None:
    title = "Line one\n\tline\x00two  " + "x" * 600
    yourls.call(action="shorturl", url="https://e.com/t", keyword="titled", title=title)
    link = _stored(app, "titled")
    assert link is not None
    assert link.title.startswith("Line one line two x")
    assert len(link.title) == 200


# -- expand and url-stats ------------------------------------------------------------------


def test_expand_by_keyword_or_short_url(yourls: YourlsClient, make_account: AccountFactory) -> None:
    yourls.call(action="shorturl", url="https://e.com/x", keyword="ex", title="Ex")
    for shorturl in ("ex", "http://localhost/ex"):
        response = yourls.call(action="expand", shorturl=shorturl)
        assert response.status_code == 200
        assert body(response) == {
            "keyword": "ex",
            "shorturl": "http://localhost/ex",
            "longurl": "https://e.com/x",
            "title": "Ex",
            "message": "success",
            "statusCode": "200",
        }
    simple = yourls.call(action="expand", shorturl="ex", format="simple")
    assert simple.get_data(as_text=True) == "https://e.com/x"
    bob = make_account("bob@example.com")
    for shorturl, keyword in (("nothing", "nothing"), ("ex", "ex"), ("a/b c", "abc")):
        missing = yourls.call(
            action="expand",
            shorturl=shorturl,
            signature=bob.key if shorturl == "ex" else yourls.account.key,
        )
        assert missing.status_code == 404
        assert body(missing) == {
            "keyword": keyword,
            "message": "Error: short URL not found",
            "errorCode": "404",
        }
    assert yourls.call(action="expand", format="simple").get_data(as_text=True) == "not found"


def test_url_stats_with_clicks_or_404(yourls: YourlsClient, app: Flask) -> None:
    yourls.call(action="shorturl", url="https://e.com/s", keyword="st", title="St")
    _add_clicks(app, "st", 7)
    response = yourls.call(action="url-stats", shorturl="http://localhost/st")
    assert response.status_code == 200
    result = body(response)
    assert list(result) == ["statusCode", "message", "link"]
    assert (result["statusCode"], result["message"]) == (200, "success")
    link = result["link"]
    assert list(link) == ["shorturl", "url", "title", "timestamp", "ip", "clicks"]
    assert (link["shorturl"], link["url"], link["title"], link["ip"], link["clicks"]) == (
        "http://localhost/st", "https://e.com/s", "St", "", 7
    )  # fmt: skip
    missing = yourls.call(action="url-stats", shorturl="nope")
    assert missing.status_code == 404
    assert body(missing) == {"statusCode": 404, "message": "Error: short URL not found"}
    simple = yourls.call(action="url-stats", shorturl="st", format="simple")
    assert simple.get_data(as_text=True) == "Need either XML or JSON format for stats"


def _add_clicks(app: Flask, slug: str, clicks: int) -> None:
    """Clicks as the analytics worker records them (an hourly aggregate)."""
    with app.app_context():
        link_id = db.session.scalar(select(Link.id).where(Link.slug == slug))
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        db.session.add(HourlyVisits(link_id=link_id, hour=hour, visits=clicks))
        db.session.commit()


# -- stats and db-stats --------------------------------------------------------------------


@pytest.fixture
def three_links(yourls: YourlsClient, app: Flask) -> None:
    """a (5 clicks), b (1 click), c (3 clicks), created in that order; and one of bob's."""
    for slug, clicks in (("a", 5), ("b", 1), ("c", 3)):
        yourls.call(action="shorturl", url=f"https://e.com/{slug}", keyword=slug)
        _add_clicks(app, slug, clicks)


def _slugs(result: dict[str, Any]) -> list[str]:
    links = result.get("links", {})
    assert list(links) == [f"link_{n}" for n in range(1, len(links) + 1)]
    return [link["shorturl"].rsplit("/", 1)[1] for link in links.values()]


STATS_ORDERS = {
    "top": ["a", "c", "b"],
    "bottom": ["b", "c", "a"],
    "last": ["c", "b", "a"],
    "": ["a", "c", "b"],
    "whatever": ["a", "c", "b"],
}


@pytest.mark.usefixtures("three_links")
def test_stats_by_filter(yourls: YourlsClient) -> None:
    for filter_, expected in STATS_ORDERS.items():
        response = yourls.call(action="stats", filter=filter_, limit="10")
        assert response.status_code == 200
        result = body(response)
        assert list(result) == ["links", "stats", "statusCode", "message"]
        assert _slugs(result) == expected, filter_
        assert result["stats"] == {"total_links": 3, "total_clicks": 9}
        assert (result["statusCode"], result["message"]) == ("200", "success")
        first = result["links"]["link_1"]
        assert list(first) == ["shorturl", "url", "title", "timestamp", "ip", "clicks"]


@pytest.mark.usefixtures("three_links")
def test_stats_limit_start_and_random(
    yourls: YourlsClient, make_account: AccountFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _slugs(body(yourls.call(action="stats", filter="top", limit="2"))) == ["a", "c"]
    assert _slugs(body(yourls.call(action="stats", filter="top", limit="2", start="1"))) == [
        "c",
        "b",
    ]
    for filter_ in ("rand", "random"):
        drawn = _slugs(body(yourls.call(action="stats", filter=filter_, limit="3")))
        assert sorted(drawn) == ["a", "b", "c"]
    # No limit (or 0, or junk) means no links, as in YOURLS; the totals are still there.
    for limit in (None, "0", "-3", "abc"):
        params = {"limit": limit} if limit is not None else {}
        result = body(yourls.call(action="stats", **params))
        assert "links" not in result
        assert result["stats"] == {"total_links": 3, "total_clicks": 9}
    assert _slugs(body(yourls.call(action="stats", limit="2abc"))) == ["a", "c"]
    # Another account sees its own links only.
    bob = make_account("bob@example.com")
    theirs = body(yourls.call(action="stats", limit="10", signature=bob.key))
    assert "links" not in theirs
    assert theirs["stats"] == {"total_links": 0, "total_clicks": 0}
    monkeypatch.setattr(actions, "MAX_STATS_LIMIT", 2)
    assert len(_slugs(body(yourls.call(action="stats", limit="1000000")))) == 2
    simple = yourls.call(action="stats", limit="1", format="simple")
    assert simple.get_data(as_text=True) == "Need either XML or JSON format for stats"


@pytest.mark.usefixtures("three_links")
def test_db_stats(yourls: YourlsClient) -> None:
    response = yourls.call(action="db-stats")
    assert response.status_code == 200
    assert body(response) == {
        "db-stats": {"total_links": 3, "total_clicks": 9},
        "statusCode": "200",
        "message": "success",
    }


def test_version_and_unknown_actions(yourls: YourlsClient) -> None:
    assert body(yourls.call(action="version")) == {"version": "1.10.2"}
    assert body(yourls.call(action="version", db="1")) == {
        "version": "1.10.2",
        "db_version": "506",
    }
    assert yourls.call(action="version", format="simple").get_data(as_text=True) == "1.10.2"
    for action in (None, "", "delete", "update", "list"):
        params = {"action": action} if action is not None else {}
        response = yourls.call(**params)
        assert response.status_code == 400
        assert body(response) == {
            "errorCode": "400",
            "message": 'Unknown or missing "action" parameter',
        }


# -- authentication -------------------------------------------------------------------------


def test_no_or_wrong_credentials_are_403_as_yourls_says_it(
    client: FlaskClient, alice: Account
) -> None:
    nothing = client.get(API, query_string={"action": "version"})
    assert nothing.status_code == 403
    assert nothing.content_type == "application/xml; charset=utf-8"  # YOURLS' default format
    assert nothing.get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<root><message>Please log in</message><errorCode>403</errorCode><callback/></root>\n"
    )
    for params, message in (
        ({"signature": "lf_AAAAAAAA_" + "A" * 43}, "Please log in"),
        ({"signature": alice.key, "timestamp": str(int(time.time()))}, "Please log in"),
        ({"username": "alice@example.com"}, "Invalid username or password"),
        ({"username": "alice@example.com", "password": "wrong"}, "Invalid username or password"),
        ({"password": ""}, "Invalid username or password"),
    ):
        response = client.get(API, query_string={"action": "version", "format": "json", **params})
        assert response.status_code == 403, params
        assert body(response) == {"message": message, "errorCode": "403", "callback": ""}
    unauthenticated_unknown = client.get(API, query_string={"action": "nope", "format": "json"})
    assert unauthenticated_unknown.status_code == 403
    simple = client.get(API, query_string={"action": "version", "format": "simple"})
    assert (simple.status_code, simple.get_data(as_text=True)) == (403, "Please log in")


def test_revoked_keys_fail(client: FlaskClient, app: Flask, alice: Account) -> None:
    with app.app_context():
        key = find_active_key(alice.key)
        assert key is not None
        revoke(alice.id, key.id)
    response = YourlsClient(client, alice).call(action="version")
    assert response.status_code == 403


def test_an_accounts_email_and_password(client: FlaskClient, web: WebHelper) -> None:
    web.create_user("carol@example.com", "a long enough password")
    for method in ("get", "post"):
        response = getattr(YourlsClient(client, None), method)(  # type: ignore[arg-type]
            action="shorturl",
            url=f"https://e.com/{method}",
            username="Carol@Example.com",
            password="a long enough password",
            format="json",
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert body(response)["status"] == "success"


def _signed(token: str, algorithm: str, timestamp: int, *, token_first: bool) -> str:
    text = f"{token}{timestamp}" if token_first else f"{timestamp}{token}"
    return hashlib.new(algorithm, text.encode()).hexdigest()


def test_signed_timestamps(
    client: FlaskClient, app: Flask, alice: Account, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        key = find_active_key(alice.key)
        assert key is not None
        token, key_id = signature_token(key), key.id
    printed = runner.invoke(args=["yourls", "token", "alice@example.com", str(key_id)])
    assert printed.exit_code == 0, printed.output
    assert printed.output.strip() == token
    for algorithm in ("md5", "sha1", "sha256", "sha512"):
        now = int(time.time())
        hash_param = {} if algorithm == "md5" else {"hash": algorithm}
        for moment, token_first in ((now, False), (now - 43000, True), (now + 600, False)):
            response = client.get(
                API,
                query_string={
                    "action": "db-stats",
                    "format": "json",
                    "timestamp": str(moment),
                    "signature": _signed(token, algorithm, moment, token_first=token_first),
                    **hash_param,
                },
            )
            assert response.status_code == 200, (moment, response.get_data(as_text=True))
        refused = [
            (now - 43260, algorithm, algorithm),  # expired
            (now + 43260, algorithm, algorithm),  # too far ahead
            (now, "md5", "crc32"),  # a hash YOURLS knows but we do not take
            (now, "md5", "sha3_256"),
            (now, "sha1" if algorithm == "md5" else "md5", algorithm),  # signed with another hash
        ]
        for moment, signed_with, hash_name in refused:
            stale = client.get(
                API,
                query_string={
                    "action": "db-stats",
                    "format": "json",
                    "timestamp": str(moment),
                    "signature": _signed(token, signed_with, moment, token_first=False),
                    "hash": hash_name,
                },
            )
            assert stale.status_code == 403, (moment - now, signed_with, hash_name)
            assert body(stale)["message"] == "Please log in"


def test_the_nonce_life_and_the_secret_key_shape_timestamp_signatures(
    make_app: AppFactory, make_account: AccountFactory
) -> None:
    app = make_app(YOURLS_NONCE_LIFE=60)
    alice = make_account("alice@example.com")
    with app.app_context():
        key = find_active_key(alice.key)
        assert key is not None
        token = signature_token(key)
    other = make_app(SECRET_KEY="another secret")
    with other.app_context():
        other_key = find_active_key(alice.key)
        assert other_key is not None
        assert signature_token(other_key) != token
    client = app.test_client()
    for age, status in ((30, 200), (120, 403)):
        moment = int(time.time()) - age
        response = client.get(
            API,
            query_string={
                "action": "version",
                "timestamp": str(moment),
                "signature": _signed(token, "md5", moment, token_first=False),
            },
        )
        assert response.status_code == status


def test_a_password_login_has_write_budgets_of_its_own(
    make_app: AppFactory, make_account: AccountFactory
) -> None:
    app = make_app(API_WRITE_RATE_LIMIT="1 per minute")
    alice = make_account("alice@example.com")
    WebHelper(app).create_user("carol@example.com", "a long enough password")
    client = app.test_client()
    login = {"username": "carol@example.com", "password": "a long enough password"}
    statuses = [
        client.get(
            API, query_string={"action": "shorturl", "url": f"https://e.com/{n}", **login}
        ).status_code
        for n in range(2)
    ]
    assert statuses == [200, 429]
    keyed = YourlsClient(client, alice).call(action="shorturl", url="https://e.com/keyed")
    assert keyed.status_code == 200


def test_a_timestamp_signature_keeps_the_keys_scope(
    client: FlaskClient, app: Flask, alice: Account
) -> None:
    with app.app_context():
        read_key = find_active_key(alice.read_key)
        assert read_key is not None
        token = signature_token(read_key)
    now = int(time.time())
    response = client.get(
        API,
        query_string={
            "action": "shorturl",
            "url": "https://e.com/signed",
            "format": "json",
            "timestamp": str(now),
            "signature": _signed(token, "md5", now, token_first=False),
        },
    )
    assert response.status_code == 403
    assert body(response)["code"] == "error:scope"


def test_the_token_command_refuses_unknown_keys(runner: FlaskCliRunner, alice: Account) -> None:
    for args in (["alice@example.com", "999"], ["nobody@example.com", "1"], ["not-an-email", "1"]):
        result = runner.invoke(args=["yourls", "token", *args])
        assert result.exit_code != 0


def test_failed_logins_spend_the_api_failure_budget(
    make_app: AppFactory, make_account: AccountFactory, redis_server: Any
) -> None:
    app = make_app(API_AUTH_FAILURE_LIMIT="3 per minute")
    alice = make_account("alice@example.com")
    client = app.test_client()
    bad = {"action": "version", "format": "json", "signature": "lf_AAAAAAAA_" + "A" * 43}
    # One unknown Bearer key and two bad signatures spend the same budget of three.
    client.get("/api/v1/links", headers={"Authorization": "Bearer lf_AAAAAAAA_" + "B" * 43})
    client.get(API, query_string=bad)
    client.get(API, query_string={**bad, "signature": "", "username": "x", "password": "y"})
    for params in (bad, {"action": "version", "format": "json", "signature": alice.key}):
        spent = client.get(API, query_string=params)
        assert spent.status_code == 429
        assert int(spent.headers["Retry-After"]) > 0
        assert body(spent) == {
            "message": "Too many failed logins from this client; try again later.",
            "errorCode": "429",
            "callback": "",
        }
    # Nothing of the client's address is kept: only a keyed hash of it names the budget.
    store = redis.Redis.from_url(redis_server.url)
    for key in store.scan_iter():
        assert b"127.0.0.1" not in key
        if store.type(key) == b"string":
            assert b"127.0.0.1" not in (store.get(key) or b"")


def test_a_keys_write_budget_is_shared_with_the_rest_api(
    make_app: AppFactory, make_account: AccountFactory
) -> None:
    app = make_app(API_WRITE_RATE_LIMIT="2 per minute")
    alice = make_account("alice@example.com")
    client = app.test_client()
    created = client.post("/api/v1/links", json={"url": "https://e.com/1"}, headers=alice.auth)
    assert created.status_code == 201
    yourls = YourlsClient(client, alice)
    assert yourls.call(action="shorturl", url="https://e.com/2").status_code == 200
    over = yourls.call(action="shorturl", url="https://e.com/3")
    assert over.status_code == 429
    assert body(over)["errorCode"] == "429"
    assert "Retry-After" in over.headers
    assert yourls.call(action="version").status_code == 200  # reads have their own budget


# -- formats --------------------------------------------------------------------------------


def test_json_is_encoded_as_php_does(yourls: YourlsClient) -> None:
    yourls.call(action="shorturl", url="https://e.com/é", keyword="enc", title="Café")
    raw = yourls.call(action="expand", shorturl="enc").get_data(as_text=True)
    assert '"shorturl":"http:\\/\\/localhost\\/enc"' in raw
    assert '"title":"Caf\\u00e9"' in raw


def test_jsonp_with_callback_or_jsonp_and_a_refused_callback(yourls: YourlsClient) -> None:
    response = yourls.call(action="version", format="jsonp", callback="my.cb_1$")
    assert response.status_code == 200
    assert response.content_type == "application/javascript; charset=utf-8"
    assert response.get_data(as_text=True) == 'my.cb_1$({"version":"1.10.2","callback":"my.cb_1$"})'
    legacy = yourls.call(action="version", format="jsonp", jsonp="cb")
    assert legacy.get_data(as_text=True) == 'cb({"version":"1.10.2","callback":"cb"})'
    bare = yourls.call(action="version", format="jsonp")
    assert bare.get_data(as_text=True) == '({"version":"1.10.2"})'
    for evil in ("alert(document.domain)//", "a\\u0041", "cb;x", "<script>"):
        refused = yourls.call(action="version", format="jsonp", callback=evil)
        assert refused.status_code == 400
        assert refused.get_data(as_text=True) == (
            '{"errorCode":"400","error":"Invalid callback parameter"}'
        )
    denied = yourls.client.get(API, query_string={"format": "jsonp", "callback": "cb"})
    assert denied.status_code == 403
    assert denied.get_data(as_text=True) == (
        'cb({"message":"Please log in","errorCode":"403","callback":"cb"})'
    )


def test_xml_of_nested_results(yourls: YourlsClient, app: Flask) -> None:
    yourls.call(action="shorturl", url="https://e.com/x?a=1&b=2", keyword="xm", title="a<b>&c")
    response = yourls.call(action="url-stats", shorturl="xm", format="xml")
    assert response.status_code == 200
    assert response.content_type == "application/xml; charset=utf-8"
    text = response.get_data(as_text=True)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<root><statusCode>200')
    assert "<url>https://e.com/x?a=1&amp;b=2</url><title>a&lt;b&gt;&amp;c</title>" in text
    assert "<ip/><clicks>0</clicks></link></root>\n" in text
    empty = yourls.call(action="shorturl", url="https://e.com/y", keyword="k", format="xml")
    assert "<code/>" in empty.get_data(as_text=True)
    default = yourls.get(action="db-stats", signature=yourls.account.key)
    assert default.content_type == "application/xml; charset=utf-8"
    assert "<db-stats><total_links>2</total_links><total_clicks>0</total_clicks></db-stats>" in (
        default.get_data(as_text=True)
    )


def test_an_unknown_format_is_simple(yourls: YourlsClient) -> None:
    response = yourls.call(action="version", format="yaml")
    assert (response.content_type, response.get_data(as_text=True)) == (
        "text/plain; charset=utf-8",
        "1.10.2",
    )


# -- bad input --------------------------------------------------------------------------------

NASTY = ["\x00", "%ff", "a" * 5000, "9" * 40, "../é", " \n"]
_PARAMETERS = ("url", "keyword", "title", "shorturl", "filter", "limit", "start", "format",
               "callback", "timestamp", "hash", "db")  # fmt: skip


def test_bad_input_is_never_a_500(make_app: AppFactory, make_account: AccountFactory) -> None:
    app = make_app(API_AUTH_FAILURE_LIMIT="1000 per minute")
    alice = make_account("alice@example.com")
    yourls = YourlsClient(app.test_client(), alice)
    query = "?action=expand&format=json&shorturl=%ff%fe&signature="
    assert yourls.client.get(API + query + alice.key).status_code == 404
    for value in NASTY:
        for action in ("shorturl", "expand", "url-stats", "stats", "db-stats", "version", value):
            for name in _PARAMETERS:
                response = yourls.get(action=action, signature=alice.key, **{name: value})
                assert response.status_code < 500, (action, name, response.get_data())
            every_name = dict.fromkeys(_PARAMETERS, value)
            every = yourls.post(action=action, signature=alice.key, **every_name)
            assert every.status_code < 500, (action, every.get_data())
            for name in ("signature", "username", "password"):
                response = yourls.get(action=action, format="json", **{name: value})
                assert response.status_code == 403, (action, name)


def test_a_body_too_large_is_413_in_yourls_shape(yourls: YourlsClient, alice: Account) -> None:
    response = yourls.client.post(
        API + "?format=json",
        data={"action": "shorturl", "signature": alice.key, "title": "x" * 70_000},
    )
    assert response.status_code == 413
    result = body(response)
    assert result["errorCode"] == "413"
    assert result["message"]


def test_links_made_here_expire_nothing_and_store_no_address(
    yourls: YourlsClient, app: Flask
) -> None:
    yourls.call(action="shorturl", url="https://e.com/p", keyword="priv")
    with app.app_context():
        link = db.session.scalar(select(Link).where(Link.slug == "priv"))
        assert link is not None
        stored = {column.key: getattr(link, column.key) for column in Link.__table__.columns}
    assert "127.0.0.1" not in repr(stored)
    assert stored["expires_at"] is None
    assert stored["created_at"] > datetime.now(UTC) - timedelta(minutes=1)
