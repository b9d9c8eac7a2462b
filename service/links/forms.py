"""The password form of protected links (Flask-WTF: it carries the session's CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import InputRequired, Length

from .services import MAX_PASSWORD_LENGTH


class LinkPasswordForm(FlaskForm):  # type: ignore[misc]
    """Asks a visitor for the password of a protected link."""

    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    submit = SubmitField("Open link")
