"""Slug generation, custom slug rules and the reserved names (unit tests, no services)."""

from __future__ import annotations

import itertools

import pytest
from flask import Flask

from service.links import slugs
from service.links.slugs import (
    BASE62,
    FIXED_RESERVED,
    SlugSpaceExhausted,
    generate_slug,
    is_reserved,
    random_slug,
    reserved_slugs,
    slug_problem,
)


def test_random_slugs_are_base62_of_the_asked_length() -> None:
    drawn = [random_slug(7) for _ in range(2000)]
    assert all(len(slug) == 7 and set(slug) <= set(BASE62) for slug in drawn)
    assert len(set(drawn)) == len(drawn)  # 62**7 possibilities: a repeat would mean no entropy
    assert len(random_slug(12)) == 12


@pytest.mark.parametrize(
    "slug", ["a", "Z", "0", "abc-DEF_123", "-", "_x_", "x" * 64, "MixedCase", "2024-report"]
)
def test_valid_custom_slugs(slug: str) -> None:
    assert slug_problem(slug) is None


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "x" * 65,
        "has space",
        "dot.ted",
        "slash/ed",
        "ümlaut",
        "emoji🙂",
        "per%cent",
        "q?",
        "a#b",
    ],
)
def test_invalid_custom_slugs(slug: str) -> None:
    problem = slug_problem(slug)
    assert problem is not None
    assert "1 to 64 characters" in problem


@pytest.mark.parametrize("name", sorted(FIXED_RESERVED - {"favicon.ico", "robots.txt"}))
def test_fixed_reserved_names_are_refused_in_any_case(name: str) -> None:
    for variant in (name, name.upper(), name.capitalize()):
        problem = slug_problem(variant)
        assert problem is not None
        assert "reserved" in problem


def test_reserved_names_come_from_the_url_map_at_check_time() -> None:
    app = Flask(__name__)

    @app.get("/brand-new/<int:page>")
    def brand_new(page: int) -> str:
        return str(page)

    @app.get("/<slug>")
    def catch_all(slug: str) -> str:
        return slug

    assert is_reserved("brand-new", app)
    assert not is_reserved("other", app)

    @app.get("/later")
    def later() -> str:
        return "added after the first check"

    assert is_reserved("LATER", app)
    assert reserved_slugs(app) >= FIXED_RESERVED | {"brand-new", "later", "static"}


def test_the_real_apps_routes_are_reserved(app: Flask) -> None:
    with app.app_context():
        reserved = reserved_slugs()
    assert {"healthz", "readyz", "metrics", "static", "login", "signup", "dashboard"} <= reserved


def test_generate_slug_retries_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = {"aaaaaaa", "bbbbbbb"}
    draws = iter(["aaaaaaa", "bbbbbbb", "ccccccc"])
    monkeypatch.setattr(slugs, "random_slug", lambda length=7: next(draws))
    assert generate_slug(taken.__contains__, length=7) == "ccccccc"


def test_generate_slug_skips_reserved_names(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["healthz", "HEALTHZ", "account", "free123"])
    monkeypatch.setattr(slugs, "random_slug", lambda length=7: next(draws))
    assert generate_slug(lambda _slug: False, length=7) == "free123"


def test_generate_slug_grows_when_crowded(monkeypatch: pytest.MonkeyPatch) -> None:
    lengths: list[int] = []

    def fake(length: int = 7) -> str:
        lengths.append(length)
        return "x" * length

    monkeypatch.setattr(slugs, "random_slug", fake)
    with pytest.raises(SlugSpaceExhausted):
        generate_slug(lambda _slug: True, length=3, attempts=9, grow_every=4)
    assert lengths == [3, 3, 3, 3, 4, 4, 4, 4, 5]


def test_generate_slug_uses_the_configured_length() -> None:
    app = Flask(__name__)
    app.config["SLUG_LENGTH"] = 10
    with app.app_context():
        assert len(generate_slug(lambda _slug: False)) == 10
    assert len(generate_slug(lambda _slug: False)) == slugs.DEFAULT_SLUG_LENGTH
    counter = itertools.count()
    assert generate_slug(lambda _slug: next(counter) < 2, length=5)
