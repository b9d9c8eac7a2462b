"""The redirect hot path: ``GET|HEAD /<slug>``, and the password form of protected links.

A cached link costs one L1 lookup: no database query, no session write (a client without a
cookie gets none and costs Redis nothing), no Redis round trip unless the link has a visit
limit. Side effects (analytics, metrics) hang off the ``link_visited`` signal and must not
block.

Answers: the link's redirect status; 404 for an unknown *or disabled* slug (disabling is
reversible, and a 410 may be cached by browsers and proxies as permanent); 410 once expired or
out of visits; 503 when a visit limit cannot be checked because Redis is down (a limited
link is never over-served). HEAD answers like GET but neither counts a visit nor records one.
A correct password answers 303, so that a 307/308 link never re-posts the password to the
target.

What a redirect answers (status, ``Location``, ``Cache-Control``, whether it is a visit) is
decided once, by :func:`redirect_answer`; the view and the redirect lane
(:mod:`service.redirect_lane`, which serves cached plain links without a request context)
both use it.

Links live on domains (:mod:`service.domains`): the request's ``Host`` picks the domain, and
the link is looked up by (domain, slug). An added domain's fallback redirects stand in for
the 404 of an unknown slug (``not_found_redirect``) and for the 404/410 of a disabled,
expired or used-up link (``expired_redirect``); a host that is no domain of this service was
already answered 404 by :func:`service.domains.views.host_gate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, current_app, redirect, render_template, request
from flask.blueprints import BlueprintSetupState
from redis import RedisError
from werkzeug.exceptions import Gone, MethodNotAllowed, NotFound, ServiceUnavailable
from werkzeug.routing import BaseConverter, ValidationError

from .. import signals
from ..domains.registry import DEFAULT, DomainRecord, domain_for
from ..extensions import limiter
from ..extensions.rate_limits import client_ip_key
from ..passwords import verify_password
from . import bp, password_bp, visits
from .cache import LinkRecord, link_cache
from .forms import LinkPasswordForm
from .forwarding import forward_query
from .rules import Visitor, pick
from .slugs import SLUG_PATTERN, is_reserved

NOT_FOUND = "There is no short link at this address."
EXPIRED = "This short link has expired."
USED_UP = "This short link has reached its visit limit."
UNCHECKABLE = "This link has a visit limit that cannot be checked right now; try again shortly."
WRONG_PASSWORD = "That password is not right."  # noqa: S105  # nosec B105  # a message, not a secret

_PERMANENT = frozenset({301, 308})
#: A link with rules answers per request: no browser or proxy may keep one answer.
RULES_CACHE_CONTROL = "private, no-store"


@dataclass(frozen=True, slots=True)
class RedirectAnswer:
    """What a redirect to a servable link answers."""

    status: int
    #: Already in URI form (encoded when the link entered the cache).
    location: str
    cache_control: str
    #: True when it is a visit: ``link_visited`` is sent (GET and the password POST, not HEAD).
    visit: bool


def redirect_answer(
    record: LinkRecord,
    *,
    method: str,
    permanent_max_age: int,
    status: int | None = None,
    request: Any = None,
    country_header: str = "",
    environ: Mapping[str, Any] | None = None,
) -> RedirectAnswer:
    """The one place that decides a redirect's status, target, caching headers and visit.

    A link with rules needs ``request`` (a :class:`~service.app.LinkFleetRequest`) and the
    app's ``ANALYTICS_COUNTRY_HEADER``: the first matching rule's target wins, else the
    link's URL, and neither may be cached (the next visitor may get another answer). A link
    with ``forward_query`` appends the ``QUERY_STRING`` of the request's WSGI ``environ`` to
    whichever target that is (:func:`.forwarding.forward_query`); a link without it pays
    one attribute check."""
    code = status or record.redirect_type
    location = record.location
    if record.rules:
        rule = pick(record.rules, Visitor(request, country_header))
        if rule is not None:
            location = rule.location
        cache_control = RULES_CACHE_CONTROL
    elif (
        code in _PERMANENT
        and record.expires_at is None
        and record.max_visits is None
        and not record.has_password
    ):
        # Browsers keep permanent redirects anyway; a max-age lets an edit reach them.
        cache_control = f"private, max-age={permanent_max_age}"
    else:
        cache_control = "private, max-age=0"
    if record.forward_query and environ:
        query = environ.get("QUERY_STRING")
        if query:
            location = forward_query(location, query)
    return RedirectAnswer(code, location, cache_control, visit=method != "HEAD")


def is_plain(record: LinkRecord, now: float | None = None) -> bool:
    """A link whose redirect depends on nothing but the record and the request (its rules, if
    any): enabled, unexpired, without a visit limit (Redis) or a password (a form). Only these
    may take the redirect lane."""
    return (
        record.password_hash is None
        and record.max_visits is None
        and not record.disabled
        and not record.is_expired(now)
    )


class UnlockableSlugConverter(BaseConverter):
    """A possible slug that is none of the app's own route prefixes.

    Only the POST rule uses it: without it ``POST /healthz`` (or any GET-only route) would
    match ``POST /<slug>`` and answer 400/404 instead of 405. Rejecting the value makes the
    router fall back to the real route's 405. GETs never need it: static routes win there.
    """

    regex = SLUG_PATTERN.pattern

    def to_python(self, value: str) -> str:
        if is_reserved(value):
            raise ValidationError()
        return value


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    """Config keys read: ``LINK_PASSWORD_RATE_LIMIT``, ``LINK_PERMANENT_MAX_AGE`` (seconds a
    browser may keep an unconditional 301/308)."""
    state.app.config.setdefault("LINK_PASSWORD_RATE_LIMIT", "10 per minute")
    state.app.config.setdefault("LINK_PERMANENT_MAX_AGE", 3600)
    state.app.url_map.converters.setdefault("unlockable_slug", UnlockableSlugConverter)


@bp.after_request
def _not_cacheable_by_default(response: Response) -> Response:
    """Error pages and forms of this blueprint must not outlive a change of the link."""
    response.headers.setdefault("Cache-Control", "private, max-age=0")
    return response


@bp.get("/<slug>")
@limiter.exempt
def follow(slug: str) -> Response:
    """Redirect to the link's target (or show its password form)."""
    domain = _domain()
    record = _live_record(slug, domain)
    if record.password_hash is not None:
        _claim_visit(record, domain, count=False)
        return _password_page(record, LinkPasswordForm())
    answer = _answer(record)
    _claim_visit(record, domain, count=answer.visit)
    if answer.visit:
        _announce_visit(record)
    return _redirect(answer)


def _password_rate_limit() -> str:
    return str(current_app.config["LINK_PASSWORD_RATE_LIMIT"])


def _password_attempt_key() -> str:
    """One budget per client and link: guessing one link's password does not lock others."""
    slug = (request.view_args or {}).get("slug", "")
    return f"{client_ip_key()}/{slug}"


def _attempt_failed(response: Response) -> bool:
    return response.status_code != 303


@password_bp.post("/<unlockable_slug:slug>")
@limiter.limit(_password_rate_limit, key_func=_password_attempt_key, deduct_when=_attempt_failed)
def unlock(slug: str) -> Response:
    """Check the password of a protected link, then redirect (303) or show the form again."""
    domain = _domain()
    record = _live_record(slug, domain)
    if record.password_hash is None:
        raise MethodNotAllowed(valid_methods=["GET", "HEAD"])
    form = LinkPasswordForm()
    if not form.validate_on_submit():
        return _password_page(record, form, status=400)
    if not verify_password(record.password_hash, form.password.data):
        form.password.errors = [WRONG_PASSWORD]
        return _password_page(record, form, status=403)
    _claim_visit(record, domain, count=True)
    _announce_visit(record)
    return _redirect(_answer(record, status=303))


def _announce_visit(record: LinkRecord) -> None:
    """Send ``link_visited`` with the real request object (receivers may keep it)."""
    signals.link_visited.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        slug=record.slug,
        link_id=record.id,
        request=request._get_current_object(),  # type: ignore[attr-defined]
    )


def _domain() -> DomainRecord:
    """The domain the request's ``Host`` names (the host gate already refused unknown ones)."""
    domain = domain_for(request.environ.get("HTTP_HOST", ""))
    if domain is None:
        raise NotFound(NOT_FOUND)
    return domain


def fallback(url: str | None) -> None:
    """Redirect (302, not cacheable) to a domain's fallback ``url`` when it has one."""
    if url:
        response = redirect(url, 302)
        response.headers["Cache-Control"] = "private, max-age=0"
        abort(response)


def _live_record(slug: str, domain: DomainRecord = DEFAULT) -> LinkRecord:
    """The cached record of a servable link on ``domain``, else the 404/410 (or the
    domain's fallback redirect) that the visitor should see."""
    if not SLUG_PATTERN.fullmatch(slug):
        fallback(domain.not_found_redirect)
        raise NotFound(NOT_FOUND)  # not even a possible slug: no cache entry, no query
    record = link_cache.lookup(slug, domain.host or None)
    if record is None:
        fallback(domain.not_found_redirect)
        raise NotFound(NOT_FOUND)
    if record.disabled:
        fallback(domain.expired_redirect)
        raise NotFound(NOT_FOUND)
    if record.is_expired():
        fallback(domain.expired_redirect)
        raise Gone(EXPIRED)
    return record


def _claim_visit(record: LinkRecord, domain: DomainRecord, *, count: bool) -> None:
    """Enforce ``max_visits`` atomically in Redis; ``count=False`` only looks."""
    if record.max_visits is None:
        return
    try:
        if count:
            allowed = visits.consume_visit(
                record.id,
                record.max_visits,
                slug=record.slug,
                request_id=request.proxy_request_id,  # type: ignore[attr-defined]
            )
        else:
            allowed = visits.has_visits_left(record.id, record.max_visits)
    except RedisError as error:
        current_app.logger.warning("visit limit of %s not checked: %s", record.slug, error)
        raise ServiceUnavailable(UNCHECKABLE, retry_after=5) from None
    if not allowed:
        fallback(domain.expired_redirect)
        raise Gone(USED_UP)


def _answer(record: LinkRecord, status: int | None = None) -> RedirectAnswer:
    return redirect_answer(
        record,
        method=request.method,
        permanent_max_age=int(current_app.config["LINK_PERMANENT_MAX_AGE"]),
        status=status,
        request=request,
        country_header=str(current_app.config.get("ANALYTICS_COUNTRY_HEADER") or "").strip(),
        environ=request.environ,
    )


def _redirect(answer: RedirectAnswer) -> Response:
    """A bare redirect response: no body to render."""
    response = current_app.response_class(status=answer.status)
    response.uri_location = answer.location  # type: ignore[attr-defined]
    response.headers["Cache-Control"] = answer.cache_control
    return response


def _password_page(record: LinkRecord, form: LinkPasswordForm, status: int = 200) -> Response:
    # The form posts back to the short URL with the visit's query, for the redirect to forward.
    query = request.query_string.decode("latin-1") if record.forward_query else ""
    html = render_template("links/password.html", form=form, slug=record.slug, query=query)
    response = current_app.response_class(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
