"""Dashboard forms. They only parse types; the links service validates and reports per field.

:data:`LinkForm` has one field per form field of :mod:`service.links.fields`, plus the
"remove the password" box (a password is never shown, so removing it needs its own switch).
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField

from ..links.fields import FORM_FIELDS, LinkField, as_utc, parse_tags

__all__ = ["DeleteForm", "LinkForm", "as_utc", "form_rows", "parse_tags"]


def _link_form() -> Any:
    attributes: dict[str, Any] = {spec.name: spec.form() for spec in FORM_FIELDS if spec.form}
    attributes["remove_password"] = BooleanField("Remove the password")
    attributes["submit"] = SubmitField("Save link")
    attributes["__doc__"] = (
        "Create or edit a link; ``remove_password`` and edit-only fields only show when editing."
    )
    return type("LinkForm", (FlaskForm,), attributes)


LinkForm: Any = _link_form()


def form_rows(section: str) -> list[list[LinkField]]:
    """The form fields of ``section``, laid out: a wide field alone, the others two a row."""
    rows: list[list[LinkField]] = []
    for spec in FORM_FIELDS:
        if spec.form_section != section:
            continue
        if spec.wide or not rows or len(rows[-1]) == 2 or rows[-1][0].wide:
            rows.append([spec])
        else:
            rows[-1].append(spec)
    return rows


class DeleteForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: deleting is a POST from the confirmation page."""

    submit = SubmitField("Delete")
