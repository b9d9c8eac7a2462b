"""The redirect lane: a cached plain link answered before Flask builds a request context.

The link is the one of the domain the ``Host`` header names: :meth:`.links.cache.LinkCache.peek`
resolves the raw header with one dict lookup (a header not seen before is normalised once, no
database or Redis; an unknown host, or a process without its domain map yet, goes through the
full dispatch).

Most traffic is ``GET /<slug>`` of a link already in this process's L1 cache, with no visit
limit, no password and no expiry passed (:func:`.views.is_plain`); redirect rules, if it has
any, are evaluated from the request's environ, and so is a forwarded query string. Such a
redirect reads no session, form, login or rate limit, so the lane answers it straight from
the WSGI environ (whatever cookies the client sends: nothing here reads them) with the answer
the view would give (:func:`.views.redirect_answer`), the same fleet headers
(:func:`service.app.fleet_headers`), the same ``link_visited`` signal with a real request
object, and the same metrics. Anything
else (another method or path, a route of the app, an L1 miss, a link that needs Redis or a
form) returns None and goes through Flask's full dispatch, which also fills L1 for the next
visit.

This module imports the link machinery when the lane is built (at the app's first request),
not at import: ``service.app`` imports it, and gunicorn's master imports ``service`` before it
forks and before gevent patches the workers, so it must not load models, Redis clients or
metrics there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .app import LinkFleet

#: The view the lane stands in for (its metrics label).
ENDPOINT = "redirect.follow"
_STATUS_LINES = {code: f"{code} {HTTPStatus(code).phrase.upper()}" for code in (301, 302, 307, 308)}
_BODY: tuple[bytes, ...] = ()


class RedirectLane:
    """:attr:`service.app.LinkFleet.fast_lane_class` of LinkFleet: see the module docstring."""

    def __init__(self, app: LinkFleet) -> None:
        from . import signals
        from .app import fleet_headers, request_id_of
        from .extensions.metrics import LINK_CACHE_LOOKUPS, count_request, tally
        from .links.cache import link_cache
        from .links.slugs import SLUG_PATTERN, reserved_slugs
        from .links.views import is_plain, redirect_answer

        self._app = app
        self._visited = signals.link_visited
        self._fleet_headers = fleet_headers
        self._request_id_of = request_id_of
        self._count_request = count_request
        self._tally = tally
        self._l1_hits = LINK_CACHE_LOOKUPS.labels("l1")
        self._peek = link_cache.peek
        self._slug_pattern = SLUG_PATTERN
        self._reserved_slugs = reserved_slugs
        self._is_plain = is_plain
        self._answer = redirect_answer
        #: The app's own route prefixes win over slugs; read at the first request, once every
        #: blueprint is registered (Flask refuses new routes after that).
        self._reserved: frozenset[str] | None = None

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes] | None:
        method = environ.get("REQUEST_METHOD")
        if method != "GET" and method != "HEAD":
            return None
        path: str = environ.get("PATH_INFO", "")
        slug = path[1:]
        if path[:1] != "/" or not self._slug_pattern.fullmatch(slug):
            return None
        app = self._app
        reserved = self._reserved
        if reserved is None:
            reserved = self._reserved = self._reserved_slugs(app)
        if slug.lower() in reserved:
            return None
        # The domain: one dict lookup of the raw Host header (see service.domains.registry).
        record = self._peek(app, slug, environ.get("HTTP_HOST", ""))
        if record is None or not self._is_plain(record):
            return None
        started = time.perf_counter()
        config = app.config
        request_id = self._request_id_of(environ)
        visitor = None
        if method == "GET" or record.rules:  # a visit to record, or rules to evaluate
            visitor = app.request_class(environ)
            visitor.trusted_proxies = config["TRUSTED_PROXIES"]
            visitor.request_id = request_id
        answer = self._answer(
            record,
            method=method,
            permanent_max_age=int(config["LINK_PERMANENT_MAX_AGE"]),
            request=visitor,
            country_header=str(config.get("ANALYTICS_COUNTRY_HEADER") or "").strip(),
            environ=environ,
        )
        if answer.visit:
            self._visited.send(app, slug=record.slug, link_id=record.id, request=visitor)
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", "0"),
            ("Location", answer.location),
            ("Cache-Control", answer.cache_control),
            *self._fleet_headers(
                config["REPLICA_NAME"],
                request_id,
                secure=environ.get("wsgi.url_scheme") in ("https", "wss"),
            ),
        ]
        start_response(_STATUS_LINES[answer.status], headers)
        self._tally.inc(self._l1_hits)
        self._count_request(method, ENDPOINT, answer.status, time.perf_counter() - started)
        return _BODY
