"""Kutt API v2 at ``/api/v2``, so that Kutt's clients (the npm ``kutt`` package,
kutt-extension) work with LinkFleet unchanged.

A thin translation over the same write services and read side as ``/api/v1``
(:mod:`service.links.services`, :mod:`service.links.queries`): Kutt's field names, id
format (:mod:`.ids`), durations (:mod:`.durations`), link shape and ``{"error": ...}``
answers in; LinkFleet's keys, scopes, rate limits and failure budget underneath. What is
supported and what is refused is listed in docs/KUTT.md.
"""

from flask import Blueprint

bp = Blueprint("kutt", __name__, url_prefix="/api/v2")

from . import views  # noqa: E402, F401
