"""Error handlers: a friendly page for people, RFC 9457 problem details for programs.

No error ever leaves as a bare 500 traceback: unexpected exceptions are logged with the
request id and answered with the same page/problem shape as any other error.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, json, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_JSON = "application/problem+json"


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
        html = render_template("errors/error.html", status=status, title=title, detail=detail)
        response = current_app.response_class(html, status=status, mimetype="text/html")
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_unexpected(error: Exception) -> Response:
    """Log the exception with the request id; answer like any 500."""
    current_app.logger.exception("unhandled error", exc_info=error)
    return handle_http_exception(InternalServerError())


def register_errorhandlers(app: Flask) -> None:
    """Install the handlers for every HTTP error and for anything unexpected."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
