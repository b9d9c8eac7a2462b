"""Account forms (Flask-WTF: every form carries the session's CSRF token)."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError

from .services import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    AccountError,
    normalise_email,
)

_PASSWORD_RULE = Length(
    min=MIN_PASSWORD_LENGTH,
    max=MAX_PASSWORD_LENGTH,
    message=f"Use at least {MIN_PASSWORD_LENGTH} characters.",
)


def _normalised_email(form: FlaskForm, field: Any) -> None:
    """Check the syntax with email-validator and keep the stored, lower-cased form."""
    try:
        field.data = normalise_email(field.data or "")
    except AccountError as error:
        raise ValidationError(error.message) from None


class SignupForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        "Email", validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH), _normalised_email]
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired(), _PASSWORD_RULE],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[InputRequired(), EqualTo("password", message="The passwords differ.")],
    )
    submit = SubmitField("Create account")


class LoginForm(FlaskForm):  # type: ignore[misc]
    """No format checks on purpose: every failure reads "invalid email or password"."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    submit = SubmitField("Log in")


class ChangePasswordForm(FlaskForm):  # type: ignore[misc]
    current_password = PasswordField("Current password", validators=[InputRequired()])
    new_password = PasswordField(
        "New password",
        validators=[InputRequired(), _PASSWORD_RULE],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("new_password", message="The passwords differ.")],
    )
    submit = SubmitField("Change password")
