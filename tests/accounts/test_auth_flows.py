"""Sign-up, login, logout and password change through the real forms, CSRF enabled."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from service.accounts.models import User
from service.extensions import db

COOKIE = "linkfleet_session"


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def test_csrf_is_enforced(client: FlaskClient) -> None:
    response = client.post("/login", data={"email": "a@example.com", "password": "x" * 12})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_signup_then_login(app: Flask, client: FlaskClient, web: Any) -> None:
    response = web.submit(
        client,
        "/signup",
        {
            "email": "  Alice@Example.COM ",
            "password": "a long password",
            "confirm": "a long password",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    with app.app_context():
        user = db.session.scalar(db.select(User))
        assert user.email == "alice@example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert not user.is_admin

    response = web.submit(
        client, "/login", {"email": "ALICE@example.com", "password": "a long password"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    page = client.get("/dashboard", follow_redirects=True).get_data(as_text=True)
    assert "Log out" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"email": "not-an-email", "password": "a long password", "confirm": "a long password"},
            "Invalid email address",
        ),
        (
            {"email": "bob@example.com", "password": "short", "confirm": "short"},
            "at least 10 characters",
        ),
        (
            {"email": "bob@example.com", "password": "a long password", "confirm": "another one!"},
            "The passwords differ",
        ),
    ],
)
def test_signup_field_errors(
    client: FlaskClient, web: Any, data: dict[str, str], message: str
) -> None:
    response = web.submit(client, "/signup", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_signup_duplicate_email(client: FlaskClient, web: Any) -> None:
    web.create_user("carol@example.com")
    response = web.submit(
        client,
        "/signup",
        {"email": "Carol@example.com", "password": "a long password", "confirm": "a long password"},
    )
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_signup_closed(app: Flask, client: FlaskClient) -> None:
    app.config["SIGNUP_OPEN"] = False
    response = client.get("/signup")
    assert response.status_code == 403
    assert "Sign-up is closed" in response.get_data(as_text=True)
    assert client.post("/signup", data={}).status_code in {400, 403}
    assert 'href="/signup"' not in client.get("/login").get_data(as_text=True)


def test_login_failures_look_the_same(client: FlaskClient, web: Any) -> None:
    web.create_user("dave@example.com")
    wrong_password = web.submit(
        client, "/login", {"email": "dave@example.com", "password": "nope nope nope"}
    )
    unknown_user = web.submit(
        client, "/login", {"email": "nobody@example.com", "password": "nope nope nope"}
    )
    for response in (wrong_password, unknown_user):
        assert response.status_code == 422
        assert "Invalid email or password." in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_session_id_changes_at_login(client: FlaskClient, web: Any) -> None:
    web.create_user("erin@example.com")
    token = web.csrf(client, "/login")
    before = session_cookie(client)
    response = client.post(
        "/login",
        data={
            "csrf_token": token,
            "email": "erin@example.com",
            "password": "correct horse battery",
        },
    )
    assert response.status_code == 302
    after = session_cookie(client)
    assert after != before
    # The pre-login session id is dead: replaying it is anonymous.
    replay = client.application.test_client()
    replay.set_cookie(COOKIE, before)
    assert replay.get("/dashboard").status_code == 302


def test_logout_destroys_the_server_side_session(
    app: Flask, client: FlaskClient, web: Any, redis_server: Any
) -> None:
    web.create_user("frank@example.com")
    web.log_in(client, "frank@example.com")
    logged_in_cookie = session_cookie(client)
    assert client.get("/dashboard").status_code == 200
    store = redis.Redis.from_url(redis_server.url)
    assert store.exists(f"linkfleet:session:{logged_in_cookie}")

    response = web.submit(client, "/logout", {}, form_path="/dashboard")
    assert response.status_code == 302
    assert not store.exists(f"linkfleet:session:{logged_in_cookie}")
    assert client.get("/dashboard").status_code == 302

    replay = app.test_client()
    replay.set_cookie(COOKIE, logged_in_cookie)
    response = replay.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logout_needs_post_and_csrf(client: FlaskClient, web: Any) -> None:
    web.create_user("gina@example.com")
    web.log_in(client, "gina@example.com")
    page = client.get("/logout")
    assert page.status_code == 200
    assert client.get("/dashboard").status_code == 200  # GET did not log out
    assert client.post("/logout").status_code == 400  # no CSRF token
    assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\r\nSet-Cookie:x",
        "/\x09/evil.example",
        "evil.example",
    ],
)
def test_next_refuses_open_redirects(client: FlaskClient, web: Any, target: str) -> None:
    web.create_user("hank@example.com")
    path = "/login?" + __import__("urllib.parse").parse.urlencode({"next": target})
    response = web.submit(
        client, path, {"email": "hank@example.com", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_next_keeps_local_paths(client: FlaskClient, web: Any) -> None:
    web.create_user("ivy@example.com")
    response = client.get("/dashboard?q=docs")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert "next=" in login_url
    response = web.submit(
        client, login_url, {"email": "ivy@example.com", "password": "correct horse battery"}
    )
    assert response.headers["Location"] == "/dashboard?q=docs"


def test_login_rate_limit(client: FlaskClient, web: Any) -> None:
    token = web.csrf(client, "/login")
    data = {"csrf_token": token, "email": "nobody@example.com", "password": "wrong password"}
    for _ in range(10):
        assert client.post("/login", data=data).status_code == 422
    response = client.post("/login", data=data)
    assert response.status_code == 429
    body = response.get_data(as_text=True)
    assert "Too many login attempts" in body
    assert "<html" in body
    assert "Retry-After" in response.headers
    # Showing the form is not limited.
    assert client.get("/login").status_code == 200


def test_signup_rate_limit(client: FlaskClient, web: Any) -> None:
    token = web.csrf(client, "/signup")
    for number in range(5):
        data = {
            "csrf_token": token,
            "email": f"user{number}@example.com",
            "password": "a long password",
            "confirm": "a long password",
        }
        assert client.post("/signup", data=data).status_code == 302
    data["email"] = "one-more@example.com"
    assert client.post("/signup", data=data).status_code == 429


def test_rate_limit_is_per_client_address(app: Flask, web: Any) -> None:
    first, second = app.test_client(), app.test_client()
    token = web.csrf(first, "/login")
    data = {"csrf_token": token, "email": "x@example.com", "password": "wrong password"}
    for _ in range(11):
        first.post("/login", data=data)
    assert first.post("/login", data=data).status_code == 429
    other = {"REMOTE_ADDR": "192.0.2.7"}
    token = web.csrf_from(second.get("/login", environ_base=other).get_data(as_text=True))
    response = second.post("/login", data={**data, "csrf_token": token}, environ_base=other)
    assert response.status_code == 422


def test_change_password_ends_other_sessions(app: Flask, web: Any) -> None:
    web.create_user("jack@example.com")
    here, elsewhere = app.test_client(), app.test_client()
    web.log_in(here, "jack@example.com")
    web.log_in(elsewhere, "jack@example.com")
    before = session_cookie(here)

    response = web.submit(
        here,
        "/account/password",
        {
            "current_password": "wrong wrong wrong",
            "new_password": "a brand new secret",
            "confirm": "a brand new secret",
        },
    )
    assert response.status_code == 422
    assert "The current password is wrong." in response.get_data(as_text=True)

    response = web.submit(
        here,
        "/account/password",
        {
            "current_password": "correct horse battery",
            "new_password": "a brand new secret",
            "confirm": "a brand new secret",
        },
    )
    assert response.status_code == 302
    assert session_cookie(here) != before
    assert here.get("/dashboard").status_code == 200
    assert elsewhere.get("/dashboard").status_code == 302

    fresh = app.test_client()
    web.log_in(fresh, "jack@example.com", "a brand new secret")


def test_account_page_requires_login(client: FlaskClient) -> None:
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_nav_shows_the_right_links(client: FlaskClient, web: Any) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "Log in" in page
    assert "Sign up" in page
    assert "Log out" not in page
    web.create_user("kim@example.com")
    web.log_in(client, "kim@example.com")
    page = client.get("/").get_data(as_text=True)
    assert "Dashboard" in page
    assert "Account" in page
    assert "Log out" in page
    assert "Sign up" not in page
