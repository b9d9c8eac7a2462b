"""The domain map: which domain a request's ``Host`` names, answered from memory.

Each process keeps the added domains (host → :class:`DomainRecord`), loaded from the database
once and again after any change (announced as :data:`~service.links.cache.DOMAINS_MESSAGE`
on the link cache's invalidation channel, so a change reaches every replica within a
second), plus ``routes``: the raw ``Host`` headers seen so far and what they resolved to. The
redirect lane then pays one dict lookup of the raw header; only a header never seen before is
normalised, and only a process that has not loaded the map yet needs the full dispatch.

Which host is which:

* an added domain's host (normalised, port-aware) is that domain;
* ``PUBLIC_URL``'s host and each of ``DEFAULT_HOST_ALIASES`` is the default domain, and
  when ``PUBLIC_URL`` is empty (short URLs on the request's host) so is every host that is
  not an added domain;
* any other host is unknown: a 404 page, whatever the path (no open relay), apart from the
  health and metrics routes (probes and Prometheus reach replicas by address).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from ..extensions import db
from .hosts import request_host, url_host
from .models import Domain

#: Raw ``Host`` headers remembered per process; past it new ones are resolved each time
#: (a flood of made-up hosts costs normalisation, never memory).
MAX_ROUTES = 1024


@dataclass(frozen=True, slots=True)
class DomainRecord:
    """What routing needs of a domain; :data:`DEFAULT` stands for the default domain."""

    host: str
    id: int | None = None
    root_redirect: str | None = None
    not_found_redirect: str | None = None
    expired_redirect: str | None = None
    #: What the domain's cache keys start with (see :func:`service.links.cache.cache_key`):
    #: empty for the default domain, whose keys are the bare slugs.
    prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", f"{self.host}/" if self.id is not None else "")

    @property
    def is_default(self) -> bool:
        return self.id is None

    @classmethod
    def from_domain(cls, domain: Any) -> DomainRecord:
        return cls(
            host=domain.host,
            id=int(domain.id),
            root_redirect=domain.root_redirect,
            not_found_redirect=domain.not_found_redirect,
            expired_redirect=domain.expired_redirect,
        )


DEFAULT = DomainRecord(host="")


@dataclass(frozen=True)
class DomainMap:
    """A process's added domains by host (None: not loaded) and the raw ``Host`` headers
    resolved with them so far. The link cache replaces it whole when a domain changes: a
    lookup holding one map never pairs it with another's hosts, and a host it resolves goes
    into its own map's ``routes``, discarded with it."""

    domains: dict[str, DomainRecord] | None = None
    routes: dict[str, DomainRecord] = field(default_factory=dict)


def load_domains() -> dict[str, DomainRecord]:
    """Every added domain by host, from the database (an app context is needed)."""
    rows = db.session.execute(
        select(
            Domain.id,
            Domain.host,
            Domain.root_redirect,
            Domain.not_found_redirect,
            Domain.expired_redirect,
        )
    ).all()
    return {row.host: DomainRecord.from_domain(row) for row in rows}


def default_hosts(config: Mapping[str, Any]) -> frozenset[str] | None:
    """The hosts of the default domain: ``PUBLIC_URL``'s and ``DEFAULT_HOST_ALIASES`` (the
    names other machines reach the service by, e.g. ``nginx:8080`` inside a compose network);
    None, meaning every host, while ``PUBLIC_URL`` is empty."""
    public = url_host(str(config.get("PUBLIC_URL") or ""))
    if public is None:
        return None
    aliases = (request_host(alias) for alias in config.get("DEFAULT_HOST_ALIASES", ()))
    return frozenset({public, *(alias for alias in aliases if alias)})


def route(domain_map: DomainMap, raw_host: str, config: Mapping[str, Any]) -> DomainRecord | None:
    """The domain ``raw_host`` names in ``domain_map`` and the app's ``config`` (None: an
    unknown host, or a map not loaded); no database, no Redis."""
    found: DomainRecord | None = domain_map.routes.get(raw_host)
    if found is not None or domain_map.domains is None:
        return found
    host = request_host(raw_host)
    found = domain_map.domains.get(host) if host else None
    if found is None:
        defaults = default_hosts(config)
        if defaults is None or host in defaults:
            found = DEFAULT
    if found is not None and len(domain_map.routes) < MAX_ROUTES:
        domain_map.routes[raw_host] = found
    return found


def domain_for(raw_host: str, app: Flask | None = None) -> DomainRecord | None:
    """:func:`route` in an app context, loading the map first when this process has none;
    :data:`DEFAULT` while the map cannot be loaded (the database is down)."""
    from ..links.cache import link_cache

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    domain_map = link_cache.domain_map(app)
    if domain_map.domains is None:
        return DEFAULT
    return route(domain_map, raw_host, app.config)
