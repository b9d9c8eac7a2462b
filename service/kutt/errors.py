"""Errors as Kutt answers them: ``{"error": "<message>"}`` with a status code.

Every error raised inside the blueprint's views leaves this way: our own
:class:`KuttError`, the links service's errors, Werkzeug's (413) and Flask-Limiter's (429)
HTTP errors with their headers, Redis or the database down (503 + ``Retry-After``, never
500) and anything unexpected (logged, a plain 500).
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import DEPENDENCY_ERRORS
from ..extensions import db
from ..links.services import LinkError, SlugTaken

#: Kutt's message for a short name that is taken.
CUSTOM_URL_TAKEN = "Custom URL is already in use."
#: Messages for HTTP errors Werkzeug or Flask-Limiter raise without a Kutt equivalent.
_STATUS_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request entity too large.",
    503: "A service LinkFleet depends on is unavailable right now. Please try again shortly.",
}


class KuttError(HTTPException):
    """An error answer of the Kutt API: ``status`` and the message Kutt would send."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = status
        self.extra_headers = dict(headers or {})


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _kutt_error(error: KuttError) -> Response:
    return error_response(error.code or 400, error.description or "", error.extra_headers)


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's and Flask-Limiter's errors, keeping ``Allow``, ``Retry-After`` ..."""
    status = error.code or 500
    own = error.description != type(error).description
    message = (error.description if own else None) or _STATUS_MESSAGES.get(status, error.name)
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    return error_response(status, str(message), headers)


def _link_error(error: LinkError) -> Response:
    """A write the links service refused (a race lost on a short name, a field it would not
    store): nothing of it stays in the session."""
    db.session.rollback()
    if isinstance(error, SlugTaken):
        return error_response(409, CUSTOM_URL_TAKEN)
    return error_response(400, next(iter(error.errors.values()), "Invalid link."))


def _dependency_down(error: Exception) -> Response:
    current_app.logger.warning("dependency unavailable: %s", error)
    return error_response(503, _STATUS_MESSAGES[503], {"Retry-After": "5"})


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _http_error(error)
    current_app.logger.exception("unhandled error in the Kutt API", exc_info=error)
    return error_response(500, "An error occurred. Please try again later.")


def register_error_handlers(bp: Blueprint) -> None:
    """Make every error raised inside ``bp``'s views a Kutt error (call once, at import)."""
    bp.register_error_handler(KuttError, _kutt_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(LinkError, _link_error)
    for error_class in DEPENDENCY_ERRORS:
        bp.register_error_handler(error_class, _dependency_down)
    bp.register_error_handler(Exception, _unexpected)
