"""Account services and helpers, without going through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from service.accounts import services
from service.accounts.auth import load_user, safe_next_url
from service.accounts.services import AccountError, authenticate, create_user, normalise_email
from service.extensions import db


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dashboard?q=a", "/dashboard?q=a"),
        ("/account/password", "/account/password"),
        ("/a//b", "/a//b"),
        (None, "/dashboard"),
        ("", "/dashboard"),
        ("dashboard", "/dashboard"),
        ("//evil.example", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
        ("HTTPS://evil.example/", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("/\t/evil.example", "/dashboard"),
        ("/ok\r\nLocation: https://evil.example", "/dashboard"),
    ],
)
def test_safe_next_url(app: Flask, target: str | None, expected: str) -> None:
    with app.test_request_context():
        assert safe_next_url(target) == expected


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("Alice@Example.COM", "alice@example.com"), ("  bob@EXAMPLE.org ", "bob@example.org")],
)
def test_normalise_email(raw: str, stored: str) -> None:
    assert normalise_email(raw) == stored


@pytest.mark.parametrize("raw", ["", "plain", "a@", "@b.c", "a b@c.d", "x" * 250 + "@example.com"])
def test_normalise_email_refuses(raw: str) -> None:
    with pytest.raises(AccountError):
        normalise_email(raw)


def test_unknown_email_still_verifies_a_hash(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """No timing oracle: an unknown email costs one argon2 verification like a known one."""
    calls: list[str] = []
    real_verify = services.verify_password

    def spy(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(services, "verify_password", spy)
    with app.app_context():
        create_user("known@example.com", "the right password")
        assert authenticate("nobody@example.com", "whatever password") is None
        assert authenticate("not an email", "whatever password") is None
        assert authenticate("known@example.com", "the wrong password") is None
        assert authenticate("KNOWN@example.com", "the right password") is not None
    assert len(calls) == 4
    assert all(value.startswith("$argon2id$") for value in calls)


def test_session_token_binds_the_login_to_the_password(app: Flask) -> None:
    with app.app_context():
        user = create_user("tok@example.com", "first password")
        session_id: Any = user.get_id()
        assert load_user(session_id) is user
        assert load_user(str(user.id)) is None  # no token, no user
        assert load_user("junk") is None
        services.change_password(user, "first password", "second password")
        assert load_user(session_id) is None
        assert load_user(user.get_id()) is user
        db.session.remove()
