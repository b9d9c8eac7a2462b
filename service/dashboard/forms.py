"""Dashboard forms. They only parse types; the links service validates and reports per field."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..links.models import DEFAULT_REDIRECT_TYPE

REDIRECT_CHOICES = [
    SelectChoice(302, "302 temporary (default)"),
    SelectChoice(301, "301 permanent (cached)"),
    SelectChoice(307, "307 temporary, same method"),
    SelectChoice(308, "308 permanent, same method"),
]


def parse_tags(raw: str | None) -> list[str]:
    """``"docs, Python ,docs"`` → ``["docs", "Python"]``: order kept, no duplicates or blanks."""
    seen: dict[str, None] = {}
    for part in (raw or "").split(","):
        name = part.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


def as_utc(value: datetime | None) -> datetime | None:
    """The form's naive datetime-local value, read as UTC."""
    return value.replace(tzinfo=UTC) if value is not None else None


class LinkForm(FlaskForm):  # type: ignore[misc]
    """Create or edit a link; ``remove_password`` and ``disabled`` only show when editing."""

    url = URLField(
        "Target URL", validators=[DataRequired(), Length(max=2048)], description="http or https."
    )
    slug = StringField(
        "Short name",
        validators=[Optional(), Length(max=64)],
        description="Letters, digits, - and _. Leave empty for a random one.",
    )
    title = StringField("Title", validators=[Optional(), Length(max=200)])
    tags = StringField("Tags", validators=[Optional()], description="Separated by commas.")
    redirect_type = SelectField(
        "Redirect type", choices=REDIRECT_CHOICES, coerce=int, default=DEFAULT_REDIRECT_TYPE
    )
    expires_at = DateTimeLocalField(
        "Expires at (UTC)",
        validators=[Optional()],
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        description="Optional. After this moment the link answers 410 Gone.",
    )
    max_visits = IntegerField(
        "Visit limit",
        validators=[Optional(), NumberRange(min=1, message="Use a whole number of at least 1.")],
        description="Optional. Once reached, the link answers 410 Gone.",
    )
    password = PasswordField(
        "Password",
        validators=[Optional(), Length(max=1024)],
        description="Optional. Visitors must enter it before they are redirected.",
    )
    remove_password = BooleanField("Remove the password")
    disabled = BooleanField("Disable this link (it stops redirecting until enabled again)")
    submit = SubmitField("Save link")


class DeleteForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: deleting is a POST from the confirmation page."""

    submit = SubmitField("Delete")
