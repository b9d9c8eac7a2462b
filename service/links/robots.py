"""``GET /robots.txt``: robots may follow the domain's crawlable short links, nothing else.

As Shlink's ``robots.txt``: every robot, an ``Allow`` line per crawlable link (a link's
``crawlable`` field) and ``Disallow: /`` for the rest, which keeps the dashboard, the APIs,
the previews and every other link out of search engines. Links live on domains, so each
domain lists its own (the ``Host`` picks it, as for a redirect; an added domain serves this
file beside its links, an unknown host gets the host gate's 404). Unlike Shlink, each line
ends with ``$``, which robots read as the end of the path: a rule is a prefix, and
``Allow: /abc`` alone would also allow ``/abcdef``, a link that is not crawlable, and the
preview ``/abc+``.

A body is kept per domain and process for ``ROBOTS_CACHE_SECONDS`` (60): a flood of
requests for it costs no query each, and crawlers keep the file far longer anyway.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, current_app, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from ..domains.registry import DomainRecord, domain_for
from ..extensions.database import run_read
from .models import Link
from .views import NOT_FOUND

bp = Blueprint("robots", __name__)

_BODIES = "linkfleet.robots"
HEADER = "# Robots may follow this domain's crawlable short links, and nothing else.\n"


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.config.setdefault("ROBOTS_CACHE_SECONDS", 60)
    state.app.extensions[_BODIES] = {}


@bp.get("/robots.txt")
def robots_txt() -> Response:
    """The robots rules of the request's domain."""
    domain = domain_for(request.environ.get("HTTP_HOST", ""))
    if domain is None:  # the host gate answers first; only a race with a removal gets here
        raise NotFound(NOT_FOUND)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    bodies: dict[str, tuple[float, str]] = app.extensions[_BODIES]
    now = time.monotonic()
    kept = bodies.get(domain.host)
    if kept is None or kept[0] <= now:
        kept = (now + float(app.config["ROBOTS_CACHE_SECONDS"]), _body(domain))
        bodies[domain.host] = kept
    response = app.response_class(kept[1], mimetype="text/plain")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _body(domain: DomainRecord) -> str:
    def crawlable(session: Session) -> list[str]:
        statement = select(Link.slug).where(
            Link.crawlable.is_(True), Link.disabled.is_(False), Link.on_domain(domain.id)
        )
        return list(session.scalars(statement.order_by(Link.slug)))

    allowed = "".join(f"Allow: /{slug}$\n" for slug in run_read(crawlable))
    return f"{HEADER}\nUser-agent: *\n{allowed}Disallow: /\n"
