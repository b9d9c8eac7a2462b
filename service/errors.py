"""Error handlers: a friendly page for people, RFC 9457 problem details for programs.

No error ever leaves as a bare 500 traceback: unexpected exceptions are logged with the
request id and answered with the same page/problem shape as any other error.
"""

from __future__ import annotations

from typing import Any

import redis
import sqlalchemy.exc
from flask import Flask, Response, current_app, json, render_template, request, session
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

PROBLEM_JSON = "application/problem+json"

#: Plain words for the error pages, used when a view raised an error without its own
#: description (Werkzeug's defaults are written for developers).
FRIENDLY_DETAILS = {
    400: "We could not make sense of that request. Please go back and try again.",
    403: "You are not allowed to see this page.",
    404: "There is nothing here. The address may be mistyped, or the page was removed.",
    405: "This page cannot be used that way. Please go back and try again.",
    410: "This short link no longer leads anywhere: it has expired or reached its visit limit.",
    429: "You sent too many requests in a short time. Please wait a minute and try again.",
    500: "Something went wrong on our side. It was logged; please try again in a moment.",
    503: "LinkFleet is briefly unavailable. Please try again in a moment.",
}


def wants_json() -> bool:
    """API paths and clients that prefer JSON over HTML get problem details."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in {"application/json", PROBLEM_JSON}


def problem_response(status: int, title: str, detail: str, **extra: Any) -> Response:
    """An ``application/problem+json`` response (RFC 9457)."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": request.request_id,  # type: ignore[attr-defined]
        **extra,
    }
    return current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


def handle_http_exception(error: HTTPException) -> Response:
    """Render any HTTP error the way the client can read it, keeping its headers."""
    status = error.code or 500
    title = error.name
    detail = error.description or title
    if wants_json():
        response = problem_response(status, title, detail)
    else:
        response = current_app.response_class(
            _error_page(status, title, _friendly_detail(error, detail)),
            status=status,
            mimetype="text/html",
        )
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _friendly_detail(error: HTTPException, detail: str) -> str:
    """Plain words, unless the view (or the rate limit) gave its own message."""
    if isinstance(error, RateLimitExceeded):
        own_message = bool(error.limit.error_message)
    else:
        own_message = detail != type(error).description
    return detail if own_message else FRIENDLY_DETAILS.get(error.code or 500, detail)


def _error_page(status: int, title: str, detail: str) -> str:
    """The site's error page; a bare one when the site's page itself cannot be rendered
    (e.g. Redis is down, so the session behind the navigation cannot be read)."""
    try:
        return render_template("errors/error.html", status=status, title=title, detail=detail)
    except Exception:
        current_app.logger.exception("could not render the error page")
        return (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{status} {escape(title)}"
            f"</title><h1>{status} · {escape(title)}</h1><p>{escape(detail)}</p></html>"
        )


#: Redis or the database not answering: 503 + ``Retry-After``, wherever they are raised.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    sqlalchemy.exc.OperationalError,
)


def handle_dependency_down(error: Exception) -> Response:
    """Redis or the database is unreachable: a 503 the client may retry, never a 500."""
    current_app.logger.warning("dependency unavailable: %s", error)
    unavailable = ServiceUnavailable(
        "A service LinkFleet depends on is unavailable right now. Please try again shortly."
    )
    response = handle_http_exception(unavailable)
    response.headers["Retry-After"] = "5"
    return response


def handle_csrf_error(error: CSRFError) -> Response:
    """A form posted while Redis (the session store) is down cannot be checked against its
    session's token: that is the outage's 503, not the visitor's 400."""
    if getattr(session, "unavailable", False):
        return handle_dependency_down(error)
    return handle_http_exception(error)


def handle_unexpected(error: Exception) -> Response:
    """Log the exception with the request id; answer like any 500."""
    current_app.logger.exception("unhandled error", exc_info=error)
    return handle_http_exception(InternalServerError())


def register_errorhandlers(app: Flask) -> None:
    """Install the handlers for every HTTP error and for anything unexpected."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(CSRFError, handle_csrf_error)
    for error_class in DEPENDENCY_ERRORS:
        app.register_error_handler(error_class, handle_dependency_down)
    app.register_error_handler(Exception, handle_unexpected)
