"""The write API of domains, shared by the CLI, the REST API and the admin page, and the
lookups the peer APIs (Shlink's, Kutt's) name domains with.

Each write validates first, commits, then announces the change on the link cache's
channel (:meth:`~service.links.cache.LinkCache.domains_changed`), so every replica reloads
its domain map within a second. A domain that still has links is not removed: its links
would lose their short URLs silently; move or delete them first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..links.cache import link_cache
from ..links.errors import LinkError, ValidationError
from ..links.models import Link
from ..links.validation import is_service_host, service_hosts, validate_target_url
from .hosts import normalise_host
from .models import Domain
from .registry import DEFAULT, DomainRecord, default_hosts

#: The fallback redirects a domain may have, each an http(s) URL or None.
FALLBACKS = ("root_redirect", "not_found_redirect", "expired_redirect")


class DomainTaken(LinkError):
    """The host is a domain already, or the default one (409 Conflict)."""

    status = 409

    def __init__(self, host: str) -> None:
        super().__init__({"host": f"“{host}” is already a domain of this service."})


class DomainInUse(LinkError):
    """The domain still has links (409 Conflict)."""

    status = 409

    def __init__(self, host: str, links: int) -> None:
        super().__init__(
            {
                "host": f"“{host}” still has {links} link(s); delete them or move them to "
                "another domain first."
            }
        )


class NoSuchDomain(LinkError):
    """No added domain has this host (404)."""

    status = 404

    def __init__(self, host: str) -> None:
        super().__init__({"host": f"“{host}” is not an added domain."})


def check_fallbacks(values: Mapping[str, Any]) -> dict[str, str | None]:
    """Fallback URLs validated like link targets (empty or None: none); all errors at once."""
    unknown = set(values) - set(FALLBACKS)
    if unknown:
        raise TypeError(f"unknown fallbacks: {', '.join(sorted(unknown))}")
    errors: dict[str, str] = {}
    cleaned: dict[str, str | None] = {}
    own = service_hosts()
    for name, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            cleaned[name] = None
            continue
        try:
            cleaned[name] = validate_target_url(value, own_hosts=own, field=name)
        except ValidationError as error:
            errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


def list_domains() -> list[Domain]:
    """Every added domain, by host."""
    return list(db.session.scalars(select(Domain).order_by(Domain.host)))


def get_domain(host: str) -> Domain:
    """The added domain ``host`` (any spelling of it), else :class:`NoSuchDomain`."""
    try:
        normal = normalise_host(host)
    except ValidationError:
        raise NoSuchDomain(str(host)) from None
    domain: Domain | None = db.session.scalar(select(Domain).where(Domain.host == normal))
    if domain is None:
        raise NoSuchDomain(normal)
    return domain


def resolve(value: str) -> DomainRecord | None:
    """The domain a peer API's ``domain`` value names: an added domain by its host in any
    spelling its normal form accepts (``GO.Example.com:443`` is ``go.example.com``),
    :data:`~.registry.DEFAULT` for a host of this service; None for any other host."""
    try:
        return DomainRecord.from_domain(get_domain(value))
    except NoSuchDomain:
        return DEFAULT if is_service_host(value) else None


def link_count(domain: Domain) -> int:
    """How many links live on ``domain``."""
    count = db.session.scalar(select(func.count(Link.id)).where(Link.domain_id == domain.id))
    return int(count or 0)


def add_domain(host: object, **fallbacks: Any) -> Domain:
    """Add the domain ``host`` with optional fallbacks; :class:`ValidationError` (422) or
    :class:`DomainTaken` (409)."""
    errors: dict[str, str] = {}
    normal = ""
    try:
        normal = normalise_host(host)
    except ValidationError as error:
        errors.update(error.errors)
    try:
        cleaned = check_fallbacks(fallbacks)
    except ValidationError as error:
        errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    from flask import current_app

    if normal in (default_hosts(current_app.config) or ()):  # a name of the default domain
        raise DomainTaken(normal)
    if db.session.scalar(select(Domain.id).where(Domain.host == normal)) is not None:
        raise DomainTaken(normal)
    domain = Domain(host=normal, **cleaned)
    db.session.add(domain)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DomainTaken(normal) from None
    link_cache.domains_changed()
    return domain


def set_redirects(domain: Domain, **changes: Any) -> Domain:
    """Change some fallbacks of ``domain`` (None or empty removes one)."""
    cleaned = check_fallbacks(changes)
    for name, value in cleaned.items():
        setattr(domain, name, value)
    db.session.commit()
    link_cache.domains_changed()
    return domain


def remove_domain(domain: Domain) -> None:
    """Remove ``domain``; :class:`DomainInUse` while it has links."""
    count = link_count(domain)
    if count:
        raise DomainInUse(domain.host, count)
    db.session.delete(domain)
    db.session.commit()
    link_cache.domains_changed()
