"""Shlink's request fields: JSON bodies and query arguments read the way Shlink reads them
(ISO 8601 dates, ``tags[]`` lists, ``field-DIR`` orders, ``-1`` for every item), each check
returning LinkFleet's value or raising Shlink's ``invalid-data`` naming the field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from ..extensions.types import utcnow
from ..links.fields import CONTROL_CHARACTERS
from ..links.slugs import MAX_SLUG_LENGTH
from .errors import ShlinkProblem, invalid_data, refused

#: Shlink's default page size and the page size meaning "every item".
DEFAULT_ITEMS_PER_PAGE = 10
ALL_ITEMS = -1
#: Larger numbers would overflow the database's integer; no listing is that long.
MAX_NUMBER = 2**31 - 1
#: Shlink refuses generated short codes shorter than this.
MIN_SHORT_CODE_LENGTH = 4
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def body() -> dict[str, Any]:
    """The request's JSON object (Shlink reads JSON only); bounded by ``API_JSON_MAX_BYTES``
    (413 beyond); anything else is ``invalid-data``."""
    request.max_content_length = int(current_app.config["API_JSON_MAX_BYTES"])
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        data = request.get_json(force=True)
    except BadRequest:
        raise invalid_data({"body": "The request body is not valid JSON."}) from None
    if not isinstance(data, dict):
        raise invalid_data({"body": "The request body must be a JSON object."})
    return data


def moment(name: str, value: Any) -> datetime | None:
    """An ISO 8601 date (``2026-12-02T10:00:00+00:00``, ``Z``, or no offset: UTC), or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or CONTROL_CHARACTERS.search(value):
        raise refused(name, "Give an ISO 8601 date, e.g. 2026-12-02T10:00:00+00:00.")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise refused(name, "Give an ISO 8601 date, e.g. 2026-12-02T10:00:00+00:00.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def valid_since(value: Any) -> None:
    """LinkFleet links are valid from their creation: a ``validSince`` not in the future
    changes nothing and is accepted, a future one is refused."""
    since = moment("validSince", value)
    if since is not None and since > utcnow():
        raise refused(
            "validSince", "LinkFleet links are valid from their creation; no future start date."
        )


def boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise refused(name, "Give true or false.")


def flag(name: str, value: Any, default: bool) -> bool:
    """``crawlable``, ``forwardQuery``: absent or null is Shlink's ``default``."""
    return default if value is None else boolean(name, value)


def integer(name: str, value: Any, *, minimum: int, maximum: int = MAX_NUMBER) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdecimal() and value.isascii():
        number = int(value.strip())
    if number is None or not minimum <= number <= maximum:
        raise refused(name, f"Give a whole number from {minimum} to {maximum}.")
    return number


def short_code_length(value: Any) -> int | None:
    if value is None:
        return None
    return integer("shortCodeLength", value, minimum=MIN_SHORT_CODE_LENGTH, maximum=MAX_SLUG_LENGTH)


def tags(name: str, value: Any) -> list[str] | None:
    """A body's tags: a list of strings (LinkFleet's tag check runs in the service)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise refused(name, "Give a list of tag names.")
    return value


# -- query arguments ----------------------------------------------------------------------------


def arg(name: str) -> str | None:
    """One query argument; control characters refused (PostgreSQL cannot compare NUL)."""
    value = request.args.get(name)
    if value is not None and CONTROL_CHARACTERS.search(value):
        raise refused(name, "Must not contain control characters.")
    return value


def arg_list(name: str) -> list[str]:
    """``name[]=a&name[]=b`` (also ``name=a``), as PHP reads lists."""
    values = request.args.getlist(f"{name}[]") or request.args.getlist(name)
    for value in values:
        if CONTROL_CHARACTERS.search(value):
            raise refused(name, "Must not contain control characters.")
    return [value for value in values if value.strip()]


def arg_flag(name: str) -> bool:
    value = arg(name)
    return False if value is None else boolean(name, value)


def mode(name: str) -> str:
    value = (arg(name) or "any").lower()
    if value not in {"any", "all"}:
        raise refused(name, "Use any or all.")
    return value


@dataclass(frozen=True)
class Window:
    """``page`` and ``itemsPerPage`` (``-1``: every item on one page)."""

    page: int
    items_per_page: int

    @property
    def everything(self) -> bool:
        return self.items_per_page == ALL_ITEMS


def window(default: int = DEFAULT_ITEMS_PER_PAGE) -> Window:
    """``page`` (from 1) and ``itemsPerPage`` (from 1, or -1), ``default`` when not sent."""
    page_text = arg("page")
    page = 1 if page_text in (None, "") else integer("page", page_text, minimum=1)
    size_text = arg("itemsPerPage")
    if size_text in (None, ""):
        size = default
    elif size_text.strip() == str(ALL_ITEMS):
        size = ALL_ITEMS
    else:
        size = integer("itemsPerPage", size_text, minimum=1)
    return Window(page, size)


def date_range() -> tuple[datetime | None, datetime | None]:
    """``startDate`` and ``endDate`` (both optional, both inclusive as in Shlink)."""
    return moment("startDate", arg("startDate")), moment("endDate", arg("endDate"))


def order(allowed: tuple[str, ...]) -> tuple[str, str] | None:
    """``orderBy=field-ASC|DESC`` (the direction defaults to ASC), or None."""
    value = arg("orderBy")
    if not value:
        return None
    field, _, direction = value.partition("-")
    direction = (direction or "ASC").upper()
    if field not in allowed or direction not in {"ASC", "DESC"}:
        raise refused("orderBy", f"Use one of {', '.join(allowed)}, then -ASC or -DESC.")
    return field, direction


__all__ = ["ShlinkProblem", "Window"]
