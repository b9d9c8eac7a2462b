"""Slugs: random base62 names, the rules for custom names, and the names the app keeps.

A slug is the path of a short URL (``/<slug>``), so it must never shadow one of the app's own
routes: the reserved set is read from the URL map each time it is checked (new blueprints
reserve their prefix without anyone updating a list) plus a fixed list for names that are
served by someone else (nginx, browsers asking for ``favicon.ico``) or that may come later.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable

from flask import Flask, current_app, has_app_context

#: The alphabet of generated slugs: digits and ASCII letters, readable and URL-safe.
BASE62 = string.digits + string.ascii_letters
#: What a custom slug may look like.
SLUG_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_SLUG_LENGTH = 64
#: Length of generated slugs unless the ``SLUG_LENGTH`` config key says otherwise.
DEFAULT_SLUG_LENGTH = 7
#: Reserved whether or not a route exists for them today (compared case-insensitively).
FIXED_RESERVED = frozenset(
    {
        "api",
        "healthz",
        "readyz",
        "metrics",
        "static",
        "login",
        "logout",
        "signup",
        "dashboard",
        "account",
        "admin",
        "favicon.ico",
        "robots.txt",
    }
)


class SlugSpaceExhausted(RuntimeError):
    """No free random slug was found; the slug length is too small for the number of links."""


def random_slug(length: int = DEFAULT_SLUG_LENGTH) -> str:
    """A slug of ``length`` base62 characters from the OS's CSPRNG (unguessable links)."""
    return "".join(secrets.choice(BASE62) for _ in range(length))


def route_prefixes(app: Flask) -> set[str]:
    """The first path segment of every route of ``app`` that starts with a literal segment."""
    prefixes = set()
    for rule in app.url_map.iter_rules():
        segment = rule.rule.lstrip("/").split("/", 1)[0]
        if segment and "<" not in segment:
            prefixes.add(segment.lower())
    return prefixes


def reserved_slugs(app: Flask | None = None) -> frozenset[str]:
    """Every reserved name, lower-cased: the fixed list plus the routes of ``app``.

    Without an app (and outside an app context) only the fixed list is known.
    """
    if app is None and has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app is None:
        return FIXED_RESERVED
    return FIXED_RESERVED | route_prefixes(app)


def is_reserved(slug: str, app: Flask | None = None) -> bool:
    """True when ``slug`` would collide with a name the app keeps (case-insensitive)."""
    return slug.lower() in reserved_slugs(app)


def slug_problem(slug: str, app: Flask | None = None) -> str | None:
    """Why ``slug`` cannot be used as a custom slug, or None when it can."""
    if not SLUG_PATTERN.fullmatch(slug):
        return "Use 1 to 64 characters: letters A-Z or a-z, digits, hyphens and underscores."
    if is_reserved(slug, app):
        return f"“{slug}” is reserved by LinkFleet; choose another short name."
    return None


def configured_length() -> int:
    """``SLUG_LENGTH`` of the current app, else the default."""
    if has_app_context():
        return int(current_app.config.get("SLUG_LENGTH", DEFAULT_SLUG_LENGTH))
    return DEFAULT_SLUG_LENGTH


def generate_slug(
    is_taken: Callable[[str], bool],
    *,
    length: int | None = None,
    attempts: int = 12,
    grow_every: int = 4,
) -> str:
    """A random slug that is neither reserved nor ``is_taken``.

    Collisions are retried; every ``grow_every`` failed attempts the length grows by one, so a
    crowded slug space costs a few extra lookups rather than an error.
    """
    size = length or configured_length()
    reserved = reserved_slugs()
    for attempt in range(1, attempts + 1):
        candidate = random_slug(size)
        if candidate.lower() not in reserved and not is_taken(candidate):
            return candidate
        if attempt % grow_every == 0:
            size = min(size + 1, MAX_SLUG_LENGTH)
    raise SlugSpaceExhausted(f"no free slug found in {attempts} attempts")
