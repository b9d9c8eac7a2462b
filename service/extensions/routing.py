"""What the URL map knows about a path, for the peer APIs' catch-all routes: which methods
the other rules of the same path accept (their 405's ``Allow``)."""

from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import HTTPException

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(catch_all: str) -> set[str]:
    """The methods this request's path has a rule for, other than the ``catch_all``
    endpoint's (empty: no such path at all, a 404)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = set()
    for method in _METHODS:
        try:
            rule, _ = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:  # no rule for this method (or a redirect to one)
            continue
        if rule.endpoint != catch_all:
            allowed.add(method)
    return allowed
