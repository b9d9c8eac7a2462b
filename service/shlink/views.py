"""The rest of Shlink's REST API v3: health, Mercure and the catch-all; the
blueprint's error handlers (every answer problem+json) are registered here."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

from ..errors import DEPENDENCY_ERRORS
from ..extensions import csrf, db
from ..extensions.routing import allowed_methods
from . import V3, bp, shapes
from .auth import with_key
from .errors import (
    MERCURE_NOT_CONFIGURED,
    NOT_FOUND,
    ShlinkProblem,
    register_error_handlers,
)

register_error_handlers(bp)
csrf.exempt(bp)  # an API key in a header, never a cookie: nothing for CSRF to ride on

#: The Shlink version whose API this surface speaks (the health answer's ``version``).
SHLINK_VERSION = "5.0.0"


@bp.route(f"{V3}/mercure-info", methods=["GET"])
@with_key("read")
def mercure_info() -> Response:
    raise ShlinkProblem(
        501,
        MERCURE_NOT_CONFIGURED,
        "Mercure integration not configured",
        "This Shlink instance is not integrated with a mercure hub.",
    )


@bp.route("/health", methods=["GET"])
@bp.route(f"{V3}/health", methods=["GET"])
def health() -> Response:
    """Shlink's health check: ``pass`` when the database answers, else ``fail`` (503)."""
    try:
        db.session.execute(text("SELECT 1"))
        passing = True
    except DEPENDENCY_ERRORS:
        db.session.rollback()
        passing = False
    response = jsonify(
        status="pass" if passing else "fail", version=SHLINK_VERSION, links=shapes.HEALTH_LINKS
    )
    response.status_code = 200 if passing else 503
    response.mimetype = "application/health+json"
    return response


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/", methods=_METHODS)
@bp.route("/<path:rest>", methods=_METHODS)
def not_supported(rest: str = "") -> Response:
    """Anything else under ``/rest``: 405 with ``Allow`` for a method a path does not have,
    else Shlink's ``not-found``."""
    allowed = allowed_methods("shlink.not_supported")
    if allowed:
        raise ShlinkProblem(
            405,
            "about:blank",
            "Method Not Allowed",
            f"Use {', '.join(sorted(allowed))} on this path.",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    raise ShlinkProblem(404, NOT_FOUND, "Not found", "Requested route does not exist.")
