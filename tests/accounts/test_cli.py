"""``linkfleet user create`` through Flask's CLI runner."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from service.accounts.models import User
from service.extensions import db
from service.passwords import verify_password


def get_user(app: Flask, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def test_create_with_password_stdin(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["user", "create", "Ops@Example.com", "--password-stdin"],
        input="a password from stdin\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Created user ops@example.com."
    user = get_user(app, "ops@example.com")
    assert user is not None
    assert not user.is_admin
    assert verify_password(user.password_hash, "a password from stdin")


def test_create_admin_with_prompt(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["user", "create", "root@example.com", "--admin"],
        input="prompted password\nprompted password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created administrator root@example.com." in result.output
    assert "prompted password" not in result.output  # hidden input is not echoed
    user = get_user(app, "root@example.com")
    assert user is not None
    assert user.is_admin
    assert verify_password(user.password_hash, "prompted password")


def test_prompt_repeats_until_the_passwords_match(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["user", "create", "rep@example.com"],
        input="first password\nsecond password\nsame password!\nsame password!\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    user = get_user(app, "rep@example.com")
    assert user is not None
    assert verify_password(user.password_hash, "same password!")


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        (
            "dup@example.com",
            "long enough password",
            "Error: An account for dup@example.com already exists.",
        ),
        (
            "DUP@example.com",
            "long enough password",
            "Error: An account for dup@example.com already exists.",
        ),
        ("not an email", "long enough password", "Error: Invalid email address:"),
        ("short@example.com", "short", "Error: The password must be at least 10 characters long."),
        ("empty@example.com", "", "Error: The password must be at least 10 characters long."),
    ],
)
def test_errors_are_one_line_with_non_zero_exit(
    app: Flask, runner: FlaskCliRunner, email: str, password: str, message: str
) -> None:
    first = runner.invoke(
        args=["user", "create", "dup@example.com", "--password-stdin"], input="the first password\n"
    )
    assert first.exit_code == 0, first.output
    result = runner.invoke(
        args=["user", "create", email, "--password-stdin"], input=password + "\n"
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(message), result.output
    assert "Traceback" not in result.output


def test_empty_stdin(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["user", "create", "x@example.com", "--password-stdin"], input="")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no password on standard input"


def test_help_lists_the_command(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["user", "--help"])
    assert result.exit_code == 0
    assert "create" in result.output
