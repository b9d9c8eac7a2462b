"""Short URLs, pages, domains and visit lists in the shapes Shlink's API v3 returns them.

A short URL: ``shortCode`` (the slug), ``shortUrl``, ``longUrl``, ``dateCreated``, ``tags``
(sorted), ``meta`` (``validSince`` always null: a link is valid from its creation;
``validUntil`` the expiry; ``maxVisits`` the visit limit), ``domain`` (the added domain's
host; null: the default domain), ``title`` (null when empty), ``crawlable`` and
``forwardQuery`` (the link's ``crawlable`` and ``forward_query``), ``visitsSummary`` (the
analytics worker's counts) and ``hasRedirectRules`` (whether the link has redirect rules).
Dates as PHP's ``DATE_ATOM`` writes them, which is what Shlink sends.

A domain's ``redirects`` are its LinkFleet fallbacks under Shlink's names
(:data:`REDIRECT_FALLBACKS`); Shlink's ``regular404Redirect`` has no LinkFleet fallback, so it
is always null, as is every redirect of the default domain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from math import ceil
from typing import Any

from ..domains.models import Domain
from ..links.queries import LinkRow
from .summaries import Summary

#: Shlink's ``links`` of its health answer.
HEALTH_LINKS = {"about": "https://shlink.io", "project": "https://github.com/shlinkio/shlink"}
#: Shlink's domain redirects and the LinkFleet fallback each one is (None: LinkFleet has none).
REDIRECT_FALLBACKS: dict[str, str | None] = {
    "baseUrlRedirect": "root_redirect",
    "regular404Redirect": None,
    "invalidShortUrlRedirect": "not_found_redirect",
}
#: The redirects of a domain without fallbacks (the default one) and Shlink's defaults.
NO_REDIRECTS: dict[str, str | None] = dict.fromkeys(REDIRECT_FALLBACKS)


def atom(moment: datetime | None) -> str | None:
    """``2026-12-02T10:00:00+00:00``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def short_url_json(row: LinkRow, summary: Summary) -> dict[str, Any]:
    link = row.link
    return {
        "shortCode": link.slug,
        "shortUrl": row.short_url,
        "longUrl": link.url,
        "dateCreated": atom(link.created_at),
        "tags": sorted(tag.name for tag in link.tags),
        "meta": {
            "validSince": None,
            "validUntil": atom(link.expires_at),
            "maxVisits": link.max_visits,
        },
        "domain": link.host,
        "title": link.title or None,
        "crawlable": link.crawlable,
        "forwardQuery": link.forward_query,
        "visitsSummary": summary.json(),
        "hasRedirectRules": bool(link.rules),
    }


def pagination(page: int, per_page: int, shown: int, total: int) -> dict[str, int]:
    """Shlink's paginator; ``per_page`` -1 means every item on one page."""
    if per_page < 1:
        return {
            "currentPage": 1,
            "pagesCount": 1,
            "itemsPerPage": total,
            "itemsInCurrentPage": shown,
            "totalItems": total,
        }
    return {
        "currentPage": page,
        "pagesCount": ceil(total / per_page) if total else 0,
        "itemsPerPage": per_page,
        "itemsInCurrentPage": shown,
        "totalItems": total,
    }


def page_of(items: list[Any], page: int, per_page: int) -> tuple[list[Any], dict[str, int]]:
    """One page of a list held in memory (tags), with its paginator."""
    total = len(items)
    shown = items if per_page < 1 else items[(page - 1) * per_page : page * per_page]
    return shown, pagination(page, per_page, len(shown), total)


def no_visits(page: int, per_page: int) -> dict[str, Any]:
    """A visit list: LinkFleet keeps counts per hour and per day, never a row per visit, so
    there is no visit to list (the counts are in ``visitsSummary`` and ``/visits``)."""
    return {"visits": {"data": [], "pagination": pagination(page, per_page, 0, 0)}}


def redirects_json(domain: Domain | None) -> dict[str, str | None]:
    """An added domain's fallbacks in Shlink's names; None (the default domain): all null."""
    return {
        name: getattr(domain, fallback) if domain is not None and fallback else None
        for name, fallback in REDIRECT_FALLBACKS.items()
    }


def domains_json(default_host: str, added: list[Domain]) -> dict[str, Any]:
    """The default domain first, then the added ones; Shlink's ``defaultRedirects`` (for
    domains without their own) are all null: LinkFleet has no service-wide fallbacks."""
    default = {"domain": default_host, "isDefault": True, "redirects": redirects_json(None)}
    others = [
        {"domain": domain.host, "isDefault": False, "redirects": redirects_json(domain)}
        for domain in added
    ]
    return {"domains": {"data": [default, *others], "defaultRedirects": dict(NO_REDIRECTS)}}
