"""Shlink's REST API v3 at ``/rest``, so that Shlink's clients (``@shlinkio/shlink-js-sdk``,
shlink-web-client) work with LinkFleet unchanged.

A thin translation over the same write services and read side as ``/api/v1``
(:mod:`service.links.services`, :mod:`service.links.queries`): Shlink's field names
(:mod:`.inputs`), domains (:mod:`.domains`), item shapes (:mod:`.shapes`) and problem+json
errors (:mod:`.errors`); LinkFleet's keys (``X-Api-Key``), scopes, rate limits and failure
budget underneath. What is supported and what is refused is listed in docs/SHLINK.md.
"""

from flask import Blueprint

bp = Blueprint("shlink", __name__, url_prefix="/rest")
#: The API version every route but ``/rest/health`` is under.
V3 = "/v3"

from . import domains, openapi, redirect_rules, short_urls, tags, views, visits  # noqa: E402, F401
