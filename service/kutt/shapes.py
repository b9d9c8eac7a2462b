"""Links and their statistics in the shapes Kutt's API v2 returns them.

A link is Kutt's sanitized link: ``id`` (see :mod:`.ids`), ``address`` (the short name),
``target``, ``description`` (LinkFleet's title, null when empty), ``link`` (the short URL),
``password`` (whether there is one, never the password), ``banned`` (LinkFleet's
"disabled"), ``expire_in`` (the expiry, or null), ``visit_count`` (the clicks the analytics
worker counted, as ``/api/v1`` shows them), ``domain`` (the added domain's host, null on
the default domain) and ``created_at``/``updated_at``; times as JavaScript's ``toISOString``
writes them. A domain is Kutt's sanitized domain (see :func:`domain_json`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..analytics.stats import link_stats
from ..domains.models import Domain
from ..links.models import Link
from ..links.queries import LinkRow
from .ids import domain_public_id, public_id

#: Kutt's browser and OS names (always listed, with zeros); any other family is "other".
BROWSERS = ("chrome", "edge", "firefox", "ie", "opera", "other", "safari")
OPERATING_SYSTEMS = ("android", "ios", "linux", "macos", "other", "windows")
#: ua-parser families, lower-cased, read as Kutt's names (first match wins).
_BROWSER_FAMILIES = (
    ("edge", "edge"),
    ("opera", "opera"),
    ("firefox", "firefox"),
    ("chrom", "chrome"),
    ("safari", "safari"),
    ("ie", "ie"),
    ("internet explorer", "ie"),
)
_OS_FAMILIES = (
    ("android", "android"),
    ("ios", "ios"),
    ("mac os", "macos"),
    ("macos", "macos"),
    ("windows", "windows"),
    ("linux", "linux"),
    ("ubuntu", "linux"),
    ("fedora", "linux"),
    ("debian", "linux"),
)
_TOP = 100


def js_time(moment: datetime | None) -> str | None:
    """``2026-12-02T01:00:00.000Z``, as Kutt's JSON carries dates."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def kutt_id(link: Link) -> str:
    return public_id(link.id, link.created_at)


def link_json(row: LinkRow) -> dict[str, Any]:
    link = row.link
    return {
        "address": link.slug,
        "banned": bool(link.disabled),
        "created_at": js_time(link.created_at),
        "description": link.title or None,
        "domain": link.host,
        "expire_in": js_time(link.expires_at),
        "id": kutt_id(link),
        "link": row.short_url,
        "password": link.password_hash is not None,
        "target": link.url,
        "updated_at": js_time(link.updated_at),
        "visit_count": row.clicks,
    }


def domain_json(domain: Domain) -> dict[str, Any]:
    """An added domain as Kutt lists a user's domains: ``address`` (the host, as ``domain``
    names it on create), ``homepage`` (where its ``/`` leads: the root redirect, or null),
    never ``banned``; LinkFleet keeps no time of a domain's last change, so ``updated_at``
    is its creation time."""
    return {
        "address": domain.host,
        "banned": False,
        "created_at": js_time(domain.created_at),
        "homepage": domain.root_redirect,
        "id": domain_public_id(domain.host),
        "updated_at": js_time(domain.created_at),
    }


def _named(value: str, families: tuple[tuple[str, str], ...]) -> str:
    family = value.lower()
    for fragment, name in families:
        if fragment == family or (len(fragment) > 2 and fragment in family):
            return name
    return "other"


def _items(counts: dict[str, int]) -> list[dict[str, Any]]:
    """Kutt's ``[{name, value}]``, most first."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"name": name, "value": value} for name, value in ordered]


def _breakdown(top: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    browsers = dict.fromkeys(BROWSERS, 0)
    for entry in top["browsers"]:
        browsers[_named(entry["value"], _BROWSER_FAMILIES)] += entry["visits"]
    systems = dict.fromkeys(OPERATING_SYSTEMS, 0)
    for entry in top["os"]:
        systems[_named(entry["value"], _OS_FAMILIES)] += entry["visits"]
    countries: dict[str, int] = {}
    for entry in top["countries"]:
        name = entry["value"].lower() or "unknown"
        countries[name] = countries.get(name, 0) + entry["visits"]
    referrers: dict[str, int] = {}
    for entry in top["referrers"]:
        name = entry["value"].lower() or "direct"
        referrers[name] = referrers.get(name, 0) + entry["visits"]
    return {
        "browser": _items(browsers),
        "os": _items(systems),
        "country": _items(countries),
        "referrer": _items(referrers),
    }


def _period(link: Link, start: datetime, end: datetime, granularity: str) -> dict[str, Any]:
    report = link_stats(link, start, end, granularity, top=_TOP)
    return {
        "stats": _breakdown(report["top"]),
        "views": [point["visits"] for point in report["series"]],
        "total": report["totals"]["visits"],
    }


def _by_month(period: dict[str, Any], first_day: datetime) -> dict[str, Any]:
    """Daily views folded into the 12 calendar months from ``first_day``'s on."""
    months = [0] * 12
    for offset, views in enumerate(period["views"]):
        day = first_day + timedelta(days=offset)
        index = (day.year - first_day.year) * 12 + day.month - first_day.month
        if 0 <= index < 12:
            months[index] += views
    return {**period, "views": months}


def stats_json(row: LinkRow, *, now: datetime) -> dict[str, Any]:
    """Kutt's stats: ``lastDay`` (24 hours), ``lastWeek`` (7 days), ``lastMonth`` (30 days)
    and ``lastYear`` (12 months), each with views per bucket, total and breakdowns, then
    the link itself; visits counted as ``visit_count`` counts them."""
    link = row.link
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    tomorrow = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year_start = month_start.replace(
        year=month_start.year - (1 if month_start.month < 12 else 0),
        month=month_start.month % 12 + 1,
    )
    return {
        "lastDay": _period(link, next_hour - timedelta(hours=24), next_hour, "hour"),
        "lastWeek": _period(link, tomorrow - timedelta(days=7), tomorrow, "day"),
        "lastMonth": _period(link, tomorrow - timedelta(days=30), tomorrow, "day"),
        "lastYear": _by_month(_period(link, year_start, tomorrow, "day"), year_start),
        "updatedAt": js_time(now),
        **link_json(row),
    }
