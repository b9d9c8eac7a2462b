"""Kutt's request fields, checked the way Kutt's validators check them, in the same order,
with the same messages; each check returns LinkFleet's value or raises a 400
:class:`~.errors.KuttError` (the first problem only, as Kutt answers)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from ..domains import services as domains
from ..domains.registry import DEFAULT, DomainRecord
from ..extensions.types import utcnow
from ..links.errors import ValidationError
from ..links.fields import CONTROL_CHARACTERS, MAX_TITLE_LENGTH
from ..links.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN, reserved_slugs
from ..links.validation import MAX_URL_LENGTH, service_hosts, validate_target_url
from .durations import parse_milliseconds
from .errors import KuttError

MIN_PASSWORD_LENGTH = 3
MAX_PASSWORD_LENGTH = 64
#: Kutt refuses expiries under a minute; beyond a century is refused here (Kutt would
#: compute a date its database cannot store).
MIN_EXPIRY = timedelta(minutes=1)
MAX_EXPIRY = timedelta(days=36525)
_MILLISECOND = timedelta(milliseconds=1)
EXPIRY_FORMAT = "Expire format is invalid. Valid examples: 1m, 8h, 42 days."
UNUSABLE_DOMAIN = "You can't use this domain."
#: Kutt's list never returns more than this many links at once.
MAX_LIMIT = 50
DEFAULT_LIMIT = 10
#: Larger offsets would overflow the database's integer; no listing is that long.
MAX_SKIP = 2**31 - 1
_HAS_PROTOCOL = re.compile(r"^(\w+:|//)")
_LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def bad(message: str) -> KuttError:
    return KuttError(400, message)


def body() -> dict[str, Any]:
    """The request's fields from a JSON or urlencoded body; anything else reads as no fields
    (as Express does). Bounded by ``API_JSON_MAX_BYTES`` (413 beyond)."""
    request.max_content_length = int(current_app.config["API_JSON_MAX_BYTES"])
    if request.is_json:
        if not request.get_data(cache=True):
            return {}
        try:
            data = request.get_json()
        except BadRequest:
            raise bad("The request body is not valid JSON.") from None
        return data if isinstance(data, dict) else {}
    return request.form.to_dict()


def _given(value: Any) -> bool:
    """express-validator's ``optional({nullable: true, checkFalsy: true})``: absent, null,
    false, 0 and "" all mean "not sent"."""
    return value not in (None, False, 0, "")


def target(value: Any, *, required: bool = True) -> str | None:
    """The target URL in LinkFleet's canonical form (http/https only, as every link)."""
    if not _given(value):
        if required:
            raise bad("Target is missing.")
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad("URL is not valid.")
    url = value.strip()
    if not _HAS_PROTOCOL.match(url):
        url = f"http://{url}"  # Kutt's addProtocol
    if len(url) > MAX_URL_LENGTH:
        raise bad(f"Maximum URL length is {MAX_URL_LENGTH}.")
    try:
        return validate_target_url(url, own_hosts=service_hosts())
    except ValidationError as error:
        raise bad(next(iter(error.errors.values()))) from None


def password(value: Any) -> str | None:
    if not _given(value):
        return None
    if not isinstance(value, str) or not (MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH):
        raise bad(
            f"Password length must be between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH}."
        )
    if "\x00" in value:
        raise bad("Password is not valid.")
    return value


def custom_url(value: Any, *, invalid: str = "Custom URL is not valid.") -> str | None:
    """A short name (Kutt's ``customurl`` on create, ``address`` on edit)."""
    if not _given(value):
        return None
    slug = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(slug) <= MAX_SLUG_LENGTH:
        raise bad(f"Custom URL length must be between 1 and {MAX_SLUG_LENGTH}.")
    if not SLUG_PATTERN.fullmatch(slug):
        raise bad(invalid)
    if slug.lower() in reserved_slugs():
        raise bad("You can't use this custom URL.")
    return slug


def boolean(value: Any, message: str) -> bool:
    """express-validator's ``isBoolean``: true/false, also as "true"/"false"/"1"/"0"."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise bad(message)


def description(value: Any) -> str | None:
    """Kutt's description is LinkFleet's title (one line, at most 200 characters)."""
    if not _given(value):
        return None
    message = f"Description length must be between 1 and {MAX_TITLE_LENGTH}."
    if not isinstance(value, str):
        raise bad(message)
    if CONTROL_CHARACTERS.search(value):
        raise bad("Description must not contain control characters.")
    text = " ".join(value.split())
    if not 1 <= len(text) <= MAX_TITLE_LENGTH:
        raise bad(message)
    return text


def expiry(value: Any, *, now: datetime | None = None) -> datetime | None:
    """``expire_in`` ("2 minutes", "1 day") as the moment the link expires."""
    if not _given(value):
        return None
    milliseconds = parse_milliseconds(value.strip()) if isinstance(value, str) else None
    if not milliseconds:
        raise bad(EXPIRY_FORMAT)
    if milliseconds < MIN_EXPIRY / _MILLISECOND:
        raise bad("Expire time should be more than 1 minute.")
    if milliseconds > MAX_EXPIRY / _MILLISECOND:
        raise bad("Expire time should be less than 100 years.")
    return (now or utcnow()) + timedelta(milliseconds=milliseconds)


def domain(value: Any) -> DomainRecord:
    """The domain a link is created on: left out, the default one; LinkFleet's own host name
    too (with or without ``www.``, as Kutt takes its default domain); an added domain's host
    in any spelling its normal form accepts, port included. Any other is refused with Kutt's
    message (Kutt: a domain that is not the user's)."""
    if not _given(value):
        return DEFAULT
    if not isinstance(value, str):
        raise bad("Domain should be string.")
    text = value.strip().lower()
    try:
        parts = urlsplit(text if "//" in text else f"//{text}")
        host = (parts.hostname or "").removeprefix("www.").rstrip(".")
    except ValueError:  # no URL parser accepts it
        raise bad(UNUSABLE_DOMAIN) from None
    found = domains.resolve(parts.netloc) if parts.netloc else None
    if found is None and host and host in {own.removeprefix("www.") for own in service_hosts()}:
        found = DEFAULT
    if found is None:
        raise bad(UNUSABLE_DOMAIN)
    return found


def query_integer(name: str, default: int) -> int:
    """A query argument read like JavaScript's ``parseInt``, falling back to ``default``;
    a repeated argument is refused as Kutt refuses it."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise bad(f"{name} query is not valid.")
    match = _LEADING_INTEGER.match(values[0]) if values else None
    number = int(match.group(1)) if match else 0
    return number or default


def list_window() -> tuple[int, int]:
    """``limit`` (1 to 50, default 10) and ``skip`` (default 0) of a list request."""
    limit = query_integer("limit", DEFAULT_LIMIT)
    if limit < 1:
        limit = DEFAULT_LIMIT
    searches = request.args.getlist("search")
    if len(searches) > 1 or (searches and CONTROL_CHARACTERS.search(searches[0])):
        raise bad("search query is not valid.")  # PostgreSQL cannot even compare NUL
    skip = query_integer("skip", 0)
    return min(limit, MAX_LIMIT), min(max(skip, 0), MAX_SKIP)
