"""``/api/v1/domains``: the branded domains, for administrators' keys only.

Create, list, read, change the fallback redirects of, and delete domains
(:mod:`service.domains.services`). Any other key gets 403; a bad host or fallback URL is a
422, a host that is a domain already or a removal of a domain with links a 409, each as
problem+json with the offending field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import g, url_for
from marshmallow import fields as mf
from marshmallow import validate
from werkzeug.wrappers import Response

from ..domains import services
from ..domains.models import Domain
from ..extensions import db
from ..links.errors import LinkError
from ..links.fields import printable
from .auth import add_ratelimit_headers
from .core import ApiBlueprint
from .errors import ApiProblem, register_problem_handlers
from .links import check_body

bp = ApiBlueprint(
    "domains_api",
    __name__,
    url_prefix="/api/v1",
    description="Branded domains (administrators): hosts for short links, with fallbacks.",
)
register_problem_handlers(bp)
bp.before_request(check_body)
bp.after_request(add_ratelimit_headers)

ADMINS_ONLY = "Domains can be managed with an administrator's key only."
_DETAILS = {
    404: "There is no such domain.",
    409: "The domain conflicts with the current state.",
    422: "Invalid domain.",
}


def _fallback_field(description: str) -> mf.String:
    return mf.String(
        allow_none=True,
        validate=[validate.Length(max=2048), printable],
        metadata={"description": f"{description} (http/https URL; null or empty: none)."},
    )


class _Fallbacks(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    root_redirect = _fallback_field("Where GET / on the domain leads")
    not_found_redirect = _fallback_field("Where an unknown short name on the domain leads")
    expired_redirect = _fallback_field(
        "Where an expired, used-up or disabled link on the domain leads"
    )


class DomainCreateSchema(_Fallbacks):
    """A new domain."""

    host = mf.String(
        required=True,
        validate=[validate.Length(min=1, max=300), printable],
        metadata={"description": "Host as visitors type it: go.example.com[:port]; IDN allowed."},
    )


class DomainUpdateSchema(_Fallbacks):
    """The fallbacks to change (the host is the domain's identity: delete and add instead)."""


class DomainSchema(ma.Schema):
    """A domain as the API shows it."""

    host = mf.String(required=True, metadata={"description": "Normalised host (punycode)."})
    root_redirect = mf.String(allow_none=True)
    not_found_redirect = mf.String(allow_none=True)
    expired_redirect = mf.String(allow_none=True)
    links = mf.Integer(required=True, metadata={"description": "Links on this domain."})
    created_at = mf.AwareDateTime(format="iso", required=True)


def _admins_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """403 for a key whose owner is no administrator (put it right under ``authenticated``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not g.api_user.is_admin:
            raise ApiProblem(403, ADMINS_ONLY)
        return view(*args, **kwargs)

    return wrapper


@contextmanager
def _problems() -> Iterator[None]:
    """The domain services' errors as problem+json with this resource's wording."""
    try:
        yield
    except LinkError as error:
        db.session.rollback()
        raise ApiProblem(
            error.status,
            _DETAILS.get(error.status, "The domain could not be written."),
            errors={field: [message] for field, message in error.errors.items()},
        ) from None


def _shown(domain: Domain) -> dict[str, Any]:
    return {
        "host": domain.host,
        "root_redirect": domain.root_redirect,
        "not_found_redirect": domain.not_found_redirect,
        "expired_redirect": domain.expired_redirect,
        "links": services.link_count(domain),
        "created_at": domain.created_at,
    }


def _find(host: str) -> Domain:
    with _problems():
        return services.get_domain(host)


@bp.route("/domains", methods=["POST"])
@bp.authenticated("write")
@_admins_only
@bp.arguments(DomainCreateSchema)
@bp.response(201, DomainSchema, headers={"Location": {"schema": {"type": "string"}}})
@bp.alt_response(403, description="The key's owner is not an administrator")
@bp.alt_response(409, description="The host is a domain already (or the default one)")
def create(data: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    """Add a domain

    Every replica routes it within a second. Point its DNS at the service's nginx first.
    """
    host = data.pop("host")
    with _problems():
        domain = services.add_domain(host, **data)
    location = url_for("domains_api.read", host=domain.host, _external=True)
    return _shown(domain), 201, {"Location": location}


@bp.route("/domains", methods=["GET"])
@bp.authenticated("read")
@_admins_only
@bp.response(200, DomainSchema(many=True))
@bp.alt_response(403, description="The key's owner is not an administrator")
def index() -> Any:
    """List the added domains (the default domain is not one of them)"""
    return [_shown(domain) for domain in services.list_domains()]


@bp.route("/domains/<host>", methods=["GET"])
@bp.authenticated("read")
@_admins_only
@bp.response(200, DomainSchema)
@bp.alt_response(403, description="The key's owner is not an administrator")
def read(host: str) -> Any:
    """Read a domain"""
    return _shown(_find(host))


@bp.route("/domains/<host>", methods=["PATCH"])
@bp.authenticated("write")
@_admins_only
@bp.arguments(DomainUpdateSchema, description="Only the fallbacks to change.")
@bp.response(200, DomainSchema)
@bp.alt_response(403, description="The key's owner is not an administrator")
def change(data: dict[str, Any], host: str) -> Any:
    """Change a domain's fallback redirects"""
    domain = _find(host)
    with _problems():
        services.set_redirects(domain, **data)
    return _shown(domain)


@bp.route("/domains/<host>", methods=["DELETE"])
@bp.authenticated("write")
@_admins_only
@bp.response(204)
@bp.alt_response(403, description="The key's owner is not an administrator")
@bp.alt_response(409, description="The domain still has links")
def remove(host: str) -> Response:
    """Delete a domain

    Refused (409) while links live on it: delete them or move them (PATCH a link's
    `domain`) first.
    """
    domain = _find(host)
    with _problems():
        services.remove_domain(domain)
    return Response(status=204)
