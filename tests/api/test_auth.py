"""API keys: Bearer auth, scopes, revocation, IDOR, last-used bookkeeping, rate limits, CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from service.api.keys import KEY_PATTERN, create_api_key, find_active_key, hash_key, revoke
from service.api.models import ApiKey
from service.extensions import db
from tests.api.conftest import assert_problem
from tests.fixtures.accounts import Account, AccountFactory, ApiClient

EVERY_ENDPOINT = [
    ("POST", "/api/v1/links"),
    ("GET", "/api/v1/links"),
    ("GET", "/api/v1/links/x"),
    ("PATCH", "/api/v1/links/x"),
    ("DELETE", "/api/v1/links/x"),
    ("GET", "/api/v1/links/x/qr.svg"),
    ("GET", "/api/v1/links/x/qr.png"),
    ("GET", "/api/v1/links/x/stats"),
    ("POST", "/api/v1/links/import"),
    ("GET", "/api/v1/links/export"),
]
WRITES = [(m, p) for m, p in EVERY_ENDPOINT if m != "GET"]


@pytest.mark.parametrize(("method", "path"), EVERY_ENDPOINT)
@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, None),
        ("Basic dXNlcjpwYXNz", "invalid_request"),
        ("Bearer", "invalid_request"),
        ("Bearer lf_AAAAAAAA_" + "A" * 43, "invalid_token"),
        ("Bearer not-a-key", "invalid_token"),
    ],
)
def test_missing_or_invalid_keys_are_401_with_a_challenge(
    client: object, alice: Account, method: str, path: str, header: str | None, error: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.open(path, method=method, headers=headers, json={"url": "https://e.com/"})  # type: ignore[attr-defined]
    assert_problem(response, 401)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="LinkFleet API"')
    if error:
        assert f'error="{error}"' in challenge


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_read_only_key_may_not_write(
    api: ApiClient, alice: Account, method: str, path: str
) -> None:
    response = api.request(method, path, key=alice.read_key, json={"url": "https://e.com/"})
    assert_problem(response, 403)
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_a_read_only_key_may_read(api: ApiClient, alice: Account) -> None:
    api.create(slug="readable")
    for path in (
        "/api/v1/links",
        "/api/v1/links/readable",
        "/api/v1/links/readable/qr.svg",
        "/api/v1/links/readable/stats",
        "/api/v1/links/export",
    ):
        assert api.get(path, key=alice.read_key).status_code == 200, path


def test_a_revoked_key_stops_working(api: ApiClient, alice: Account, app: Flask) -> None:
    assert api.get("/api/v1/links").status_code == 200
    with app.app_context():
        key = find_active_key(alice.key)
        assert key is not None
        revoke(alice.id, key.id)
    assert_problem(api.get("/api/v1/links"), 401)


def test_only_a_hash_is_stored(app: Flask, alice: Account) -> None:
    with app.app_context():
        rows = db.session.scalars(select(ApiKey).where(ApiKey.owner_id == alice.id)).all()
        assert {row.key_hash for row in rows} >= {hash_key(alice.key)}
        for row in rows:
            assert alice.key not in (row.key_hash, row.prefix, row.name)
            assert alice.key.startswith(f"lf_{row.prefix}_") or alice.read_key.startswith(
                f"lf_{row.prefix}_"
            )
        assert KEY_PATTERN.fullmatch(alice.key)
        # a key with the right prefix but another secret is refused
        forged = alice.key[:12] + ("A" if alice.key[12] != "A" else "B") + alice.key[13:]
        assert find_active_key(forged) is None


def test_last_used_is_written_at_most_once_a_minute(
    api: ApiClient, alice: Account, app: Flask
) -> None:
    def last_used() -> object:
        with app.app_context():
            key = find_active_key(alice.key)
            assert key is not None
            return key.last_used_at

    assert last_used() is None
    api.get("/api/v1/links")
    first = last_used()
    assert first is not None
    api.get("/api/v1/links")
    assert last_used() == first  # within the minute: no write
    with app.app_context():
        key = find_active_key(alice.key)
        assert key is not None
        key.last_used_at = key.last_used_at - timedelta(minutes=2)  # type: ignore[operator]
        db.session.commit()
        stale = key.last_used_at
    api.get("/api/v1/links")
    assert last_used() > stale  # type: ignore[operator]


# -- IDOR -------------------------------------------------------------------------------------


def test_another_users_key_cannot_see_or_touch_a_link(api: ApiClient, bob: Account) -> None:
    api.create(slug="private", tags=["secret"])
    for method, path in [
        ("GET", "/api/v1/links/private"),
        ("PATCH", "/api/v1/links/private"),
        ("DELETE", "/api/v1/links/private"),
        ("GET", "/api/v1/links/private/qr.svg"),
        ("GET", "/api/v1/links/private/qr.png"),
        ("GET", "/api/v1/links/private/stats"),
    ]:
        response = api.request(method, path, key=bob.key, json={"title": "pwned"})
        body = assert_problem(response, 404)
        assert (
            body["detail"]
            == assert_problem(
                api.request(method, "/api/v1/links/nope", key=bob.key, json={"title": "x"}), 404
            )["detail"]
        )  # no difference between "not yours" and "does not exist"
    assert api.get("/api/v1/links", key=bob.key).get_json() == []
    assert api.get("/api/v1/links?tag=secret", key=bob.key).get_json() == []
    export = api.get("/api/v1/links/export?format=json", key=bob.key)
    assert export.get_json() == []
    assert api.get("/api/v1/links/private").get_json()["title"] == ""


def test_an_admin_key_sees_every_link(api: ApiClient, make_account: AccountFactory) -> None:
    api.create(slug="users-link")
    admin = make_account("root@example.com", admin=True)
    assert api.get("/api/v1/links/users-link", key=admin.key).status_code == 200
    assert [link["slug"] for link in api.get("/api/v1/links", key=admin.key).get_json()] == [
        "users-link"
    ]


# -- rate limits ------------------------------------------------------------------------------


def test_each_key_has_its_own_write_budget(api: ApiClient, bob: Account, app: Flask) -> None:
    app.config["API_WRITE_RATE_LIMIT"] = "3 per minute"
    for number in range(3):
        response = api.post(
            "/api/v1/links", json={"url": "https://example.com/", "slug": f"r{number}"}
        )
        assert response.status_code == 201
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Remaining"] == str(2 - number)
        assert 0 < int(response.headers["RateLimit-Reset"]) <= 60
    limited = api.post("/api/v1/links", json={"url": "https://example.com/", "slug": "r9"})
    body = assert_problem(limited, 429)
    assert "write" in body["detail"]
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["RateLimit-Remaining"] == "0"
    # reads are a separate budget; other keys are untouched
    assert api.get("/api/v1/links").status_code == 200
    other = api.post("/api/v1/links", key=bob.key, json={"url": "https://example.com/"})
    assert other.status_code == 201
    # the refused request created nothing
    assert_problem(api.get("/api/v1/links/r9"), 404)


def test_reads_are_limited_per_key(api: ApiClient, app: Flask) -> None:
    app.config["API_READ_RATE_LIMIT"] = "2 per minute"
    assert api.get("/api/v1/links").status_code == 200
    assert api.get("/api/v1/links").status_code == 200
    assert_problem(api.get("/api/v1/links"), 429)


# -- CLI --------------------------------------------------------------------------------------


def test_cli_creates_lists_and_revokes_keys(
    runner: FlaskCliRunner, alice: Account, app: Flask, api: ApiClient
) -> None:
    result = runner.invoke(
        args=["apikey", "create", "Alice@Example.com", "--name", "ci", "--scope", "read"]
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert KEY_PATTERN.fullmatch(key), result.stdout  # only the key on stdout
    assert result.stdout == key + "\n"
    assert api.get("/api/v1/links", key=key).status_code == 200
    assert_problem(api.post("/api/v1/links", key=key, json={"url": "https://e.com/"}), 403)

    listing = runner.invoke(args=["apikey", "list", "alice@example.com"])
    assert listing.exit_code == 0
    assert "ci" in listing.output
    assert key not in listing.output
    with app.app_context():
        row = find_active_key(key)
        assert row is not None
        key_id = row.id
    assert runner.invoke(args=["apikey", "revoke", "alice@example.com", str(key_id)]).exit_code == 0
    assert_problem(api.get("/api/v1/links", key=key), 401)


@pytest.mark.parametrize(
    "args",
    [
        ["apikey", "create", "nobody@example.com", "--name", "x"],
        ["apikey", "create", "not-an-email", "--name", "x"],
        ["apikey", "create", "alice@example.com", "--name", "   "],
        ["apikey", "create", "alice@example.com", "--name", "x", "--scope", "admin"],
        ["apikey", "revoke", "alice@example.com", "999"],
    ],
)
def test_cli_errors(runner: FlaskCliRunner, alice: Account, args: list[str]) -> None:
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert not KEY_PATTERN.search(result.stdout)


def test_key_names_and_scopes_are_checked(app: Flask, alice: Account) -> None:
    from service.api.keys import ApiKeyError

    with app.app_context():
        with pytest.raises(ApiKeyError):
            create_api_key(alice.id, "", "write")
        with pytest.raises(ApiKeyError):
            create_api_key(alice.id, "x" * 101, "write")
        with pytest.raises(ApiKeyError):
            create_api_key(alice.id, "ok", "admin")
