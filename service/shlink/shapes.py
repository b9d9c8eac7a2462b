"""Short URLs, pages, domains and visit lists in the shapes Shlink's API v3 returns them.

A short URL: ``shortCode`` (the slug), ``shortUrl``, ``longUrl``, ``dateCreated``, ``tags``
(sorted), ``meta`` (``validSince`` always null: a link is valid from its creation;
``validUntil`` the expiry; ``maxVisits`` the visit limit), ``domain`` (null: the default
domain), ``title`` (null when empty), ``crawlable`` and ``forwardQuery`` (the link's
``crawlable`` and ``forward_query``), ``visitsSummary`` (the analytics worker's counts) and
``hasRedirectRules`` (whether the link has redirect rules). Dates as PHP's ``DATE_ATOM``
writes them, which is what Shlink sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from math import ceil
from typing import Any

from ..links.queries import LinkRow
from .summaries import Summary

#: Shlink's ``links`` of its health answer.
HEALTH_LINKS = {"about": "https://shlink.io", "project": "https://github.com/shlinkio/shlink"}
#: No fallback redirects are configured for LinkFleet's domain (yet).
NO_REDIRECTS: dict[str, str | None] = {
    "baseUrlRedirect": None,
    "regular404Redirect": None,
    "invalidShortUrlRedirect": None,
}


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
        "domain": None,
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


def domains_json(host: str) -> dict[str, Any]:
    return {
        "domains": {
            "data": [{"domain": host, "isDefault": True, "redirects": dict(NO_REDIRECTS)}],
            "defaultRedirects": dict(NO_REDIRECTS),
        }
    }
