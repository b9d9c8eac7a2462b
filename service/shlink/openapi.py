"""``GET /rest/v3/openapi.json``: the OpenAPI 3 description of the Shlink surface, so that it
can be read by clients and fuzzed (schemathesis).

The document is one hand-written file, ``openapi.json`` beside this module (the views read
Shlink's fields by hand, not through schemas it could be built from): change it with the
views. ``tests/shlink/test_shlink_openapi.py`` checks that its paths are exactly the
blueprint's routes, and ``tests/shlink/test_shlink_schemathesis.py`` fuzzes the live API
against it, so neither can drift from the other.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import jsonify
from werkzeug.wrappers import Response

from . import V3, bp

DOCUMENT = Path(__file__).with_name("openapi.json")


@cache
def document() -> dict[str, Any]:
    """The parsed document (read once, at the first request for it)."""
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@bp.route(f"{V3}/openapi.json", methods=["GET"])
def openapi_json() -> Response:
    """No key: the description of the API is public, like Shlink's own."""
    return jsonify(document())
