"""The link preview page: ``GET /<slug>+`` shows where a short link leads before following it.

Like Bitly's and Shlink's ``+`` pages: the target URL, the title, a QR code of the short URL
and a "Continue" button to the short URL itself, so the visit is counted (and a password
asked for) by the normal redirect, never here. The page sends no ``link_visited`` and spends
no visit of a limited link.

A slug cannot contain ``+`` (:data:`.slugs.SLUG_PATTERN`), so ``/<slug>+`` never collides
with a link, and the redirect lane (:mod:`service.redirect_lane`) leaves it to Flask. The
link is found through the link cache like a redirect, on the domain the ``Host`` names
(added domains serve previews too; an unknown slug spends the client's not-found budget);
unknown, disabled, expired and used-up links are the friendly 404 page.
A password-protected link's preview shows that it is protected, not its target or title.
Only GET: no form, so no CSRF, rate-limit or login hook runs here (:mod:`..extensions.scoping`).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from redis import RedisError
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from ..domains.registry import domain_for
from ..extensions import db, limiter
from . import visits
from .cache import LinkRecord, link_cache
from .models import Link
from .queries import short_url
from .slugs import SLUG_PATTERN
from .views import NOT_FOUND

#: ``GET /<slug>+``; registered before the redirect's catch-all ``/<slug>``.
bp = Blueprint("preview", __name__)

#: What a preview page may be kept for: nothing, so that a change of the link shows at once.
CACHE_CONTROL = "private, max-age=0"


class SlugConverter(BaseConverter):
    """Exactly a possible slug: ``/a+b+`` is no preview, and the ``+`` stays outside."""

    regex = SLUG_PATTERN.pattern


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("preview_slug", SlugConverter)


def _previewable(slug: str, host: str | None) -> LinkRecord:
    """The record of a link on the domain ``host`` (None: the default one) a visitor could
    follow now, else the friendly 404."""
    record = link_cache.lookup(slug, host)
    if record is None or record.disabled or record.is_expired():
        raise NotFound(NOT_FOUND)
    if record.max_visits is not None:
        try:
            if not visits.has_visits_left(record.id, record.max_visits):
                raise NotFound(NOT_FOUND)
        except RedisError:
            pass  # unknown here; the redirect itself answers 503 if it still is
    return record


@bp.get("/<preview_slug:slug>+")
@limiter.exempt
def show(slug: str) -> Response:
    """The preview of one link (see the module docstring)."""
    from ..dashboard.views import qr_svg

    domain = domain_for(request.environ.get("HTTP_HOST", ""))  # the host gate let it in
    host = (domain.host or None) if domain is not None else None
    record = _previewable(slug, host)
    protected = record.has_password
    title = None if protected else db.session.scalar(select(Link.title).where(Link.id == record.id))
    url = short_url(record.slug, host)
    html = render_template(
        "links/preview.html",
        slug=record.slug,
        short_url=url,
        target=None if protected else record.url,
        title=title or "",
        protected=protected,
        qr=qr_svg(url),
    )
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


__all__ = ["bp"]
