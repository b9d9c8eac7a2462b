"""Helpers of the domain tests: domains and links on them, in one call each."""

from __future__ import annotations

from typing import Any

from flask import Flask

from service.domains.services import add_domain
from service.links.services import create_link
from tests.fixtures.users import user_with_email

#: A domain's three fallback redirects, each to its own page of one site.
FALLBACKS = {
    "root_redirect": "https://home.example/",
    "not_found_redirect": "https://home.example/missing",
    "expired_redirect": "https://home.example/expired",
}


def new_domain(app: Flask, host: str, **fallbacks: Any) -> str:
    """Add a domain; returns its normalised host."""
    with app.app_context():
        return add_domain(host, **fallbacks).host


def link_on(app: Flask, slug: str, url: str, domain: str | None = None, **fields: Any) -> int:
    """A committed link on ``domain`` (None: the default one); returns its id."""
    with app.app_context():
        owner = user_with_email("owner@example.com")
        return create_link(owner, url=url, slug=slug, domain=domain, **fields).id
