"""Errors as Shlink answers them: problem+json with Shlink's ``type`` URIs and titles.

Every error raised inside the blueprint's views leaves this way: our own
:class:`ShlinkProblem`, the links service's errors (field errors as Shlink's
``invalid-data``, a taken slug as ``non-unique-slug``), Werkzeug's and Flask-Limiter's HTTP
errors with their headers, Redis or the database down (503 + ``Retry-After``, never a 500)
and anything unexpected (logged, a plain 500 problem).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, current_app
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ..errors import DEPENDENCY_ERRORS, problem_response
from ..extensions import db
from ..links.services import LinkError, SlugTaken

_BASE = "https://shlink.io/api/error/"
INVALID_DATA = _BASE + "invalid-data"
NOT_FOUND = _BASE + "not-found"
SHORT_URL_NOT_FOUND = _BASE + "short-url-not-found"
NON_UNIQUE_SLUG = _BASE + "non-unique-slug"
TAG_NOT_FOUND = _BASE + "tag-not-found"
TAG_CONFLICT = _BASE + "tag-conflict"
DOMAIN_NOT_FOUND = _BASE + "domain-not-found"
MISSING_AUTHENTICATION = _BASE + "missing-authentication"
INVALID_API_KEY = _BASE + "invalid-api-key"
MERCURE_NOT_CONFIGURED = _BASE + "mercure-not-configured"
#: LinkFleet's field names as Shlink's clients know them (``invalidElements``).
SHLINK_NAMES = {
    "url": "longUrl",
    "slug": "customSlug",
    "title": "title",
    "tags": "tags",
    "expires_at": "validUntil",
    "max_visits": "maxVisits",
    "rules": "redirectRules",
}


class ShlinkProblem(HTTPException):
    """A problem answer of the Shlink API: Shlink's ``type``, ``title`` and ``detail``, and
    the extra members Shlink sends with it (``shortCode``, ``invalidElements`` ...)."""

    def __init__(
        self,
        status: int,
        type_: str,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.code = status
        self.type = type_
        self.title = title
        self.extra = extra
        self.extra_headers = dict(headers or {})


def invalid_data(
    errors: Mapping[str, str], detail: str = "Provided data is not valid"
) -> ShlinkProblem:
    """Shlink's ``invalid-data``: the invalid fields by their Shlink names in
    ``invalidElements``, and LinkFleet's message for each in ``errors`` (so that a person
    reading the answer knows what to change)."""
    return ShlinkProblem(
        400,
        INVALID_DATA,
        "Invalid data",
        detail,
        invalidElements=list(errors),
        errors=dict(errors),
    )


def refused(field: str, message: str) -> ShlinkProblem:
    """One field LinkFleet cannot honour (``deviceLongUrls``, a future ``validSince`` ...)."""
    return invalid_data({field: message})


def short_url_not_found(short_code: str, domain: str | None = None) -> ShlinkProblem:
    detail = f'No URL found with short code "{short_code}"'
    extra: dict[str, Any] = {"shortCode": short_code}
    if domain:
        detail += f' for domain "{domain}"'
        extra["domain"] = domain
    return ShlinkProblem(404, SHORT_URL_NOT_FOUND, "Short URL not found", detail, **extra)


def tag_not_found(tag: str) -> ShlinkProblem:
    return ShlinkProblem(
        404, TAG_NOT_FOUND, "Tag not found", f'Tag with name "{tag}" could not be found', tag=tag
    )


def domain_not_found(domain: str) -> ShlinkProblem:
    return ShlinkProblem(
        404,
        DOMAIN_NOT_FOUND,
        "Domain not found",
        f'Domain with authority "{domain}" could not be found',
        authority=domain,
    )


def shlink_name(field: str) -> str:
    """A LinkFleet field error's key in Shlink's names: ``url`` is ``longUrl``, a rule's
    ``rules.1.url`` is ``redirectRules.1.longUrl`` (nested paths keep their positions)."""
    parts = field.split(".")
    parts[0] = SHLINK_NAMES.get(parts[0], parts[0])
    if len(parts) > 1 and parts[-1] == "url":
        parts[-1] = "longUrl"
    return ".".join(parts)


def _problem(status: int, type_: str, title: str, detail: str, **extra: Any) -> Response:
    return problem_response(status, title, detail, type=type_, **extra)


def _with_headers(response: Response, headers: Iterable[tuple[str, str]]) -> Response:
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _shlink_problem(error: ShlinkProblem) -> Response:
    response = _problem(
        error.code or 400, error.type, error.title, str(error.description), **error.extra
    )
    return _with_headers(response, error.extra_headers.items())


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's and Flask-Limiter's errors (404, 405, 413, 429 ...), keeping ``Allow``,
    ``Retry-After`` ...; an unknown route is Shlink's ``not-found``."""
    status = error.code or 500
    if status == 404:
        response = _problem(404, NOT_FOUND, "Not found", "Requested route does not exist.")
    else:
        own = error.description != type(error).description
        detail = str(error.description) if own else error.name
        response = _problem(status, "about:blank", HTTP_STATUS_CODES.get(status, "Error"), detail)
    return _with_headers(response, error.get_headers())


def _link_error(error: LinkError) -> Response:
    """A write the links service refused: nothing of it stays in the session."""
    db.session.rollback()
    if isinstance(error, SlugTaken):
        return _problem(
            400,
            NON_UNIQUE_SLUG,
            "Invalid custom slug",
            f'Provided slug "{error.slug}" is already in use.',
            customSlug=error.slug,
        )
    return _shlink_problem(invalid_data({shlink_name(k): v for k, v in error.errors.items()}))


def _dependency_down(error: Exception) -> Response:
    current_app.logger.warning("dependency unavailable: %s", error)
    response = _problem(
        503,
        "about:blank",
        "Service Unavailable",
        "A service LinkFleet depends on is unavailable right now. Please try again shortly.",
    )
    response.headers["Retry-After"] = "5"
    return response


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    current_app.logger.exception("unhandled error in the Shlink API", exc_info=error)
    return _problem(
        500, "about:blank", "Internal Server Error", "An error occurred. Please try again later."
    )


def register_error_handlers(bp: Blueprint) -> None:
    """Make every error raised inside ``bp``'s views a Shlink problem (call once, at import)."""
    bp.register_error_handler(ShlinkProblem, _shlink_problem)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(LinkError, _link_error)
    for error_class in DEPENDENCY_ERRORS:
        bp.register_error_handler(error_class, _dependency_down)
    bp.register_error_handler(Exception, _unexpected)
