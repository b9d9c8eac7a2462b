"""Domains in Shlink's terms: which domain a ``domain`` value names, the domain list and
the fallback redirects (:mod:`service.domains` underneath).

A ``domain`` left out, empty, ``DEFAULT`` or one of the default domain's host names is the
default domain; an added domain's host (any spelling :func:`~service.domains.hosts.normalise_host`
accepts) is that domain; anything else names no domain of this service. Domains are
administered, as on ``/api/v1/domains``: every key may list them (a client offers them when
creating a short URL), only an administrator's write key may change their redirects.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import g, jsonify, request
from werkzeug.wrappers import Response

from ..domains import services
from ..domains.models import Domain
from ..domains.registry import DEFAULT, DomainRecord
from ..links import queries
from ..links.errors import ValidationError
from ..links.fields import CONTROL_CHARACTERS
from . import V3, bp, inputs, shapes
from .auth import with_key
from .errors import ShlinkProblem, domain_not_found, invalid_data, refused

#: The keyword Shlink's clients send for the default domain.
DEFAULT_KEYWORD = "DEFAULT"
ADMINS_ONLY = "Domains are managed by administrators; only an administrator's key may change them."
_NO_REGULAR_404 = (
    "LinkFleet has no redirect for other missing pages of a domain (only its short links "
    "are served there); send null."
)
_DEFAULT_HAS_NONE = (
    "The default domain has no fallback redirects (its / is LinkFleet's start page, an "
    "unknown short name its 404 page); send null."
)


def default_authority() -> str:
    """The default domain as Shlink lists it: the host of the short URLs (``PUBLIC_URL``'s
    or this request's), with its port."""
    return urlsplit(queries.short_url("x")).netloc or request.host


def resolve(value: Any) -> DomainRecord | None:
    """The domain ``value`` names (:data:`~service.domains.registry.DEFAULT` for the default
    one), or None when it names none of this service's domains."""
    if value is None or value == "" or value == DEFAULT_KEYWORD:
        return DEFAULT
    if not isinstance(value, str) or CONTROL_CHARACTERS.search(value):
        return None
    return services.resolve(value)


def known_domains() -> str:
    """The hosts a ``domain`` may name, for a refusal's message."""
    hosts = [default_authority(), *(domain.host for domain in services.list_domains())]
    return ", ".join(hosts)


@bp.route(f"{V3}/domains", methods=["GET"])
@with_key("read")
def list_domains() -> Response:
    return jsonify(shapes.domains_json(default_authority(), services.list_domains()))


def _changes(data: dict[str, Any], domain: Domain | None) -> dict[str, str | None]:
    """The body's redirects as the fallbacks to set (left out: kept, null: removed)."""
    changes: dict[str, str | None] = {}
    for name, fallback in shapes.REDIRECT_FALLBACKS.items():
        if name not in data:
            continue
        value = data[name]
        if value is not None and not isinstance(value, str):
            raise refused(name, "Give the redirect as a URL, or null for none.")
        if not value:
            value = None
        if value is not None and (domain is None or fallback is None):
            raise refused(name, _DEFAULT_HAS_NONE if domain is None else _NO_REGULAR_404)
        if fallback is not None:
            changes[fallback] = value
    return changes


@bp.route(f"{V3}/domains/redirects", methods=["PATCH"])
@with_key("write")
def edit_domain_redirects() -> Response:
    """Set or clear an added domain's fallbacks, validated as on ``/api/v1/domains``; the
    default domain has none (all null is accepted, anything else refused)."""
    if not g.api_user.is_admin:
        raise ShlinkProblem(403, "about:blank", "Forbidden", ADMINS_ONLY)
    data = inputs.body()
    name = data.get("domain")
    if not isinstance(name, str) or not name.strip():
        raise refused("domain", "Give the domain's host, as GET /rest/v3/domains lists it.")
    record = resolve(name)
    if record is None:
        raise domain_not_found(name)
    domain = None if record.is_default else services.get_domain(record.host)
    changes = _changes(data, domain)
    if domain is not None and changes:
        try:
            services.set_redirects(domain, **changes)
        except ValidationError as error:
            names = {fallback: name for name, fallback in shapes.REDIRECT_FALLBACKS.items()}
            raise invalid_data(
                {names[key]: message for key, message in error.errors.items()}
            ) from None
    return jsonify(shapes.redirects_json(domain))
