"""``/rest/v3/openapi.json``: served without a key, a valid OpenAPI 3 document, and its paths
are exactly the shlink blueprint's routes (so the document cannot drift from the code)."""

from __future__ import annotations

import re

import schemathesis
from flask import Flask
from flask.testing import FlaskClient

from service.shlink.openapi import document
from service.shlink.views import SHLINK_VERSION

#: The catch-all answering every other path under ``/rest`` (404 / 405), not an operation.
CATCH_ALL = "shlink.not_supported"
_IMPLICIT = {"HEAD", "OPTIONS"}
_METHODS = {"get", "put", "post", "patch", "delete"}


def _shape(path: str) -> str:
    """A path with its parameters blanked: ``<short_code>`` and ``{shortCode}`` alike."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_the_document_lists_exactly_the_blueprints_routes(app: Flask) -> None:
    served = {
        (_shape(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("shlink.") and rule.endpoint != CATCH_ALL
        for method in (rule.methods or set()) - _IMPLICIT
    }
    described = {
        (_shape(path), method)
        for path, item in document()["paths"].items()
        for method in item
        if method in _METHODS
    }

    assert served == described
    assert len(described) == 25


def test_the_document_is_served_without_a_key_and_loads(client: FlaskClient) -> None:
    response = client.get("/rest/v3/openapi.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == document()
    schema = schemathesis.openapi.from_dict(response.get_json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 25
    assert document()["info"]["version"] == SHLINK_VERSION
    security = document()["components"]["securitySchemes"]["ApiKey"]
    assert (security["type"], security["in"], security["name"]) == ("apiKey", "header", "X-Api-Key")
