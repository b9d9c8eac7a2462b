"""Links as the API (and the export) shows them: plain dicts the schemas dump.

Visit counts come from the links area's Redis counters, fetched for a whole page in one
round trip; when Redis cannot answer, ``visits`` is null rather than the request failing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import redis
from flask import current_app, request

from ..links.cache import link_cache
from ..links.models import Link
from ..links.visits import VISITS_KEY


def short_url(slug: str) -> str:
    """``PUBLIC_URL`` + slug when configured, else this request's host."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return f"{base.rstrip('/')}/{slug}"


def visit_counts(link_ids: Sequence[int]) -> list[int | None]:
    """The counter of each link (0 when never counted); all None when Redis is unavailable."""
    if not link_ids:
        return []
    try:
        raw = link_cache.redis.mget([VISITS_KEY.format(link_id) for link_id in link_ids])
    except redis.RedisError as error:
        current_app.logger.warning("visit counters unavailable: %s", error)
        return [None] * len(link_ids)
    return [int(value) if value is not None else 0 for value in raw]


def link_dict(link: Link, visits: int | None) -> dict[str, Any]:
    return {
        "slug": link.slug,
        "short_url": short_url(link.slug),
        "url": link.url,
        "title": link.title,
        "tags": [tag.name for tag in link.tags],
        "redirect_type": link.redirect_type,
        "expires_at": link.expires_at,
        "max_visits": link.max_visits,
        "visits": visits,
        "has_password": link.password_hash is not None,
        "created_at": link.created_at,
        "updated_at": link.updated_at,
    }


def present(links: Sequence[Link]) -> list[dict[str, Any]]:
    """Dicts for ``links`` with their visit counts (one Redis round trip)."""
    counts = visit_counts([link.id for link in links])
    return [link_dict(link, count) for link, count in zip(links, counts, strict=True)]


def present_one(link: Link) -> dict[str, Any]:
    return present([link])[0]


def etag_of(link_data: dict[str, Any]) -> str:
    """A strong ETag of the link's stored state.

    ``visits`` is left out on purpose: it is a live counter, and a link being visited must
    not make every ``If-Match`` of a client that edits it fail.
    """
    stable = {key: value for key, value in link_data.items() if key != "visits"}
    encoded = json.dumps(stable, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]
