"""``/api/docs``: Swagger UI for ``/api/openapi.json``, served from local files only.

The UI's files come from the ``swagger-ui-bundle`` package (no CDN, works offline); the
initializer is our static ``api-docs.js``, not an inline script, so the page runs under the
app's Content-Security-Policy unchanged (``script-src`` falls back to ``'self'``).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

bp = Blueprint("api_docs", __name__, url_prefix="/api/docs")

#: The files of Swagger UI the page uses; nothing else of the package is served.
ASSETS = frozenset(
    {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"}
)
ASSET_MAX_AGE = 7 * 86400


@bp.get("")
@bp.get("/")
def index() -> str:
    """The interactive documentation."""
    return render_template("api/api_docs.html", spec_url=url_for("api-docs.openapi_json"))


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    """One of Swagger UI's files (versioned by the package, so cached for a week)."""
    if name not in ASSETS:
        raise NotFound()
    return send_from_directory(Path(str(swagger_ui_path)), name, max_age=ASSET_MAX_AGE)
