"""RFC 9457 problem details for the API, with field errors as ``errors: {field: [messages]}``.

Built on :func:`service.errors.problem_response` (the app-wide shape). The API blueprints
register :func:`register_problem_handlers`, so that errors raised in their views — webargs'
422 with marshmallow messages, a ``LinkError`` from the links service, Flask-Limiter's 429,
Werkzeug's 413 — all leave as ``application/problem+json``. Errors raised before any view
is found (404, 405 on ``/api/...``) are the app handler's, which answers problem+json for
``/api/`` paths too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, current_app
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from ..errors import DEPENDENCY_ERRORS, PROBLEM_JSON, handle_dependency_down, problem_response
from ..extensions import db
from ..links.services import LinkError

__all__ = ["PROBLEM_JSON", "ApiProblem", "ProblemSchema", "problem", "register_problem_handlers"]

#: webargs' name for each request location, as clients know it.
_LOCATIONS = {"json": "body", "query": "query", "headers": "headers", "form": "form"}


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem (documentation only; see :func:`problem`)."""

    type = ma.fields.String(metadata={"description": "Problem type URI (about:blank)."})
    title = ma.fields.String(metadata={"description": "HTTP status phrase."})
    status = ma.fields.Integer(metadata={"description": "HTTP status code."})
    detail = ma.fields.String(metadata={"description": "What went wrong, for people."})
    instance = ma.fields.String(metadata={"description": "The request path."})
    request_id = ma.fields.String(metadata={"description": "X-Request-ID, for support."})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Messages per field (dotted paths for nested fields)."},
    )


class ApiProblem(HTTPException):
    """An HTTP error with field errors and extra headers, raised from API code."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = status
        self.errors = flatten_errors(errors or {})
        self.extra_headers = dict(headers or {})

    def get_headers(self, *_: Any, **__: Any) -> list[tuple[str, str]]:
        return [("Content-Type", PROBLEM_JSON), *self.extra_headers.items()]


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow/webargs messages as ``{"field": [...], "tags.0": [...]}``.

    webargs nests by location (``{"json": {"url": [...]}}``): the location is dropped,
    except for errors about the body as a whole (``{"body": ["Invalid JSON body."]}``).
    """
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = str(key)
            if not prefix and name in _LOCATIONS:
                if isinstance(value, Mapping):
                    flat.update(flatten_errors(value))
                    continue
                name = _LOCATIONS[name]
            elif name == "_schema":
                name = prefix.rstrip(".") or "body"
            else:
                name = f"{prefix}{name}"
            if isinstance(value, Mapping):
                flat.update(flatten_errors(value, f"{name}."))
            else:
                flat.setdefault(name, []).extend(_as_messages(value))
    elif messages:
        flat.setdefault(prefix.rstrip(".") or "body", []).extend(_as_messages(messages))
    return flat


def _as_messages(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [str(value)]


def problem(
    status: int,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem+json response; ``title`` is the status phrase (RFC 9457 ``about:blank``)."""
    title = HTTP_STATUS_CODES.get(status, "Error")
    extra: dict[str, Any] = {"errors": dict(errors)} if errors else {}
    response = problem_response(status, title, detail, **extra)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_problem(error: HTTPException) -> Response:
    """Any ``HTTPException`` as a problem, keeping its headers (``Allow``, ``Retry-After`` ...)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    raw_errors = getattr(error, "errors", None) or data.get("errors") or data.get("messages")
    errors = flatten_errors(raw_errors) if raw_errors else None
    detail = error.description or error.name
    if data.get("message"):
        detail = str(data["message"])
    elif status == 422 and errors:
        detail = "Some fields are invalid; see errors."
    elif status == 400 and errors and "body" in errors:
        detail = "The request body is not valid JSON."
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return problem(status, detail, errors=errors, headers=headers)


def link_problem(error: LinkError) -> Response:
    """The links service's errors: 422 (invalid fields) or 409 (slug taken); nothing of the
    failed write stays in the session."""
    db.session.rollback()
    detail = "The short name is already taken." if error.status == 409 else "Invalid link."
    return problem(
        error.status,
        detail,
        errors={field: [message] for field, message in error.errors.items()},
    )


def unexpected_problem(error: Exception) -> Response:
    """Log it with the request id; answer a plain 500 problem (never a traceback)."""
    if isinstance(error, HTTPException):
        return http_problem(error)
    current_app.logger.exception("unhandled error in the API", exc_info=error)
    return http_problem(InternalServerError())


def register_problem_handlers(bp: Blueprint) -> None:
    """Make every error raised inside ``bp``'s views problem+json (call once, at import)."""
    bp.register_error_handler(HTTPException, http_problem)
    bp.register_error_handler(LinkError, link_problem)
    # Blueprint handlers are searched (whole MRO) before the app's, so the catch-all below
    # would turn an outage into a 500: Redis or the database down is a 503 here too.
    for error_class in DEPENDENCY_ERRORS:
        bp.register_error_handler(error_class, handle_dependency_down)
    bp.register_error_handler(Exception, unexpected_problem)
