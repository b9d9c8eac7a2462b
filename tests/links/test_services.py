"""The links write API on real Redis and both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from blinker import Signal
from flask import Flask
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from service import signals
from service.extensions import db
from service.links import services, visits
from service.links.models import Link, Tag
from service.links.services import (
    LinkError,
    SlugTaken,
    ValidationError,
    create_link,
    delete_link,
    get_link_for,
    normalise_tags,
    update_link,
    visible_links,
)
from service.links.slugs import BASE62
from service.passwords import verify_password
from tests.fixtures.users import UserFactory

pytestmark = pytest.mark.integration


@contextmanager
def received(signal: Signal) -> Iterator[list[dict[str, Any]]]:
    """Collect the keyword arguments of every send of ``signal``."""
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append({"sender": sender, **kwargs})

    signal.connect(receiver)
    try:
        yield calls
    finally:
        signal.disconnect(receiver)


def test_create_with_defaults(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        owner = make_user()
        with received(signals.link_created) as calls:
            link = create_link(owner, url="  https://Example.com/page  ")
        assert len(link.slug) == 7
        assert set(link.slug) <= set(BASE62)
        assert link.url == "https://example.com/page"
        assert link.redirect_type == 302
        assert link.title == ""
        assert link.tags == []
        assert link.password_hash is None
        assert link.max_visits is None
        assert link.expires_at is None
        assert link.disabled is False
        assert link.owner_id == owner.id
        assert link.created_at.tzinfo is not None
        assert calls == [{"sender": app, "link": link}]


def test_create_with_every_field(app: Flask, make_user: UserFactory) -> None:
    expiry = datetime.now(UTC) + timedelta(days=3)
    with app.app_context():
        owner = make_user()
        link = create_link(
            owner,
            url="http://bücher.de/",
            slug="  my-Link_1 ",
            title="  Books   and more ",
            tags=["Reading", " reading ", "BOOKS", "", "two  words"],
            redirect_type=308,
            expires_at=expiry,
            max_visits=10,
            password="open sesame",
        )
        slug = link.slug
    with app.app_context():
        stored = db.session.scalars(select(Link).where(Link.slug == slug)).one()
        assert stored.slug == "my-Link_1"
        assert stored.url == "http://xn--bcher-kva.de/"
        assert stored.title == "Books and more"
        assert [tag.name for tag in stored.tags] == ["books", "reading", "two words"]
        assert stored.redirect_type == 308
        assert stored.expires_at == expiry
        assert stored.max_visits == 10
        assert stored.password_hash is not None
        assert stored.password_hash.startswith("$argon2id$")
        assert verify_password(stored.password_hash, "open sesame")


def test_tags_are_shared_rows(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        owner = make_user()
        create_link(owner, url="https://a.example/", tags=["news"])
        create_link(owner, url="https://b.example/", tags=["NEWS", "misc"])
        assert db.session.scalar(select(func.count()).select_from(Tag)) == 2


def test_naive_expiry_is_read_as_utc(app: Flask, make_user: UserFactory) -> None:
    naive = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    with app.app_context():
        link = create_link(make_user(), url="https://example.com/", expires_at=naive)
        assert link.expires_at == naive.replace(tzinfo=UTC)


def test_all_field_errors_are_reported_at_once(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        owner = make_user()
        with pytest.raises(ValidationError) as caught:
            create_link(
                owner,
                url="javascript:alert(1)",
                slug="no spaces",
                title="t" * 201,
                tags=["x" * 65],
                redirect_type=303,
                expires_at=datetime.now(UTC) - timedelta(seconds=1),
                max_visits=0,
                password="p" * 1025,
            )
        assert caught.value.status == 422
        assert set(caught.value.errors) == {
            "url",
            "slug",
            "title",
            "tags",
            "redirect_type",
            "expires_at",
            "max_visits",
            "password",
        }
        assert isinstance(caught.value, LinkError)
        assert db.session.scalar(select(func.count()).select_from(Link)) == 0


@pytest.mark.parametrize("slug", ["dashboard", "API", "healthz", "static", "Login", "metrics"])
def test_reserved_slugs_are_refused(app: Flask, make_user: UserFactory, slug: str) -> None:
    with app.app_context():
        with pytest.raises(ValidationError) as caught:
            create_link(make_user(), url="https://example.com/", slug=slug)
        assert "reserved" in caught.value.errors["slug"]


def test_links_back_to_this_service_are_refused(app: Flask, make_user: UserFactory) -> None:
    app.config["PUBLIC_URL"] = "https://sho.rt"
    with app.app_context():
        with pytest.raises(ValidationError) as caught:
            create_link(make_user(), url="https://sho.rt/abc")
        assert "loop" in caught.value.errors["url"]
    with (
        app.test_request_context("/", base_url="http://links.internal:8080"),
        pytest.raises(ValidationError),
    ):
        create_link(make_user(), url="http://links.internal/abc")


def test_slug_taken_is_a_conflict(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        owner, other = make_user(), make_user()
        create_link(owner, url="https://example.com/", slug="taken")
        with pytest.raises(SlugTaken) as caught:
            create_link(other, url="https://example.org/", slug="taken")
        assert caught.value.status == 409
        assert "taken" in caught.value.errors["slug"]
        # Slugs are case-sensitive: a different case is a different link.
        assert create_link(other, url="https://example.org/", slug="TAKEN").slug == "TAKEN"


def test_losing_the_race_for_a_custom_slug_is_a_conflict(
    app: Flask, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replica inserts the slug between our check and our commit."""
    with app.app_context():
        owner = make_user()
        create_link(owner, url="https://example.com/", slug="raced")
        real_exists = services._slug_exists
        checks: list[str] = []

        def exists_but_first_check_misses_it(slug: str, domain_id: int | None = None) -> bool:
            checks.append(slug)
            return len(checks) > 1 and real_exists(slug, domain_id)

        monkeypatch.setattr(services, "_slug_exists", exists_but_first_check_misses_it)
        with pytest.raises(SlugTaken):
            create_link(owner, url="https://example.org/", slug="raced")
        assert db.session.scalar(select(func.count()).select_from(Link)) == 1


def test_a_random_slug_that_lost_a_race_is_drawn_again(
    app: Flask, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        owner = make_user()
        create_link(owner, url="https://example.com/", slug="abcdefg")
        draws = iter(["abcdefg", "hijklmn"])  # the first was free when checked, not at commit
        monkeypatch.setattr(services, "generate_slug", lambda _is_taken: next(draws))
        link = create_link(owner, url="https://example.org/", tags=["retry"])
        assert link.slug == "hijklmn"
        assert [tag.name for tag in link.tags] == ["retry"]


def test_update_changes_fields_and_announces(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        link = create_link(make_user(), url="https://example.com/", tags=["a"], title="old")
        before = link.updated_at
        with received(signals.link_updated) as calls:
            update_link(
                link,
                url="https://example.org/new",
                title="new",
                tags="b, c",
                redirect_type="301",
                max_visits="5",
            )
        assert calls == [{"sender": app, "slug": link.slug, "host": None, "link": link}]
        assert link.url == "https://example.org/new"
        assert link.title == "new"
        assert [tag.name for tag in link.tags] == ["b", "c"]
        assert link.redirect_type == 301
        assert link.max_visits == 5
        assert link.updated_at >= before


def test_update_password_semantics(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        link = create_link(make_user(), url="https://example.com/", password="first")
        first_hash = link.password_hash
        update_link(link, title="password untouched", password=None)
        assert link.password_hash == first_hash
        update_link(link, password="second")
        assert link.password_hash is not None
        assert verify_password(link.password_hash, "second")
        update_link(link, password="")
        assert link.password_hash is None


def test_update_can_remove_limits_and_disable(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        link = create_link(
            make_user(),
            url="https://example.com/",
            max_visits=3,
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
        update_link(link, max_visits=None, expires_at=None, disabled=True)
        assert (link.max_visits, link.expires_at, link.disabled) == (None, None, True)


def test_update_refuses_bad_values_and_unknown_fields(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        link = create_link(make_user(), url="https://example.com/")
        with pytest.raises(ValidationError) as caught:
            update_link(link, url="file:///etc/passwd", disabled="yes")
        assert set(caught.value.errors) == {"url", "disabled"}
        with pytest.raises(TypeError, match="owner_id"):
            update_link(link, owner_id=99)


def test_changing_the_slug(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        owner = make_user()
        create_link(owner, url="https://example.com/", slug="occupied")
        link = create_link(owner, url="https://example.com/", slug="before", max_visits=9)
        assert visits.consume_visit(link.id, 9)
        with received(signals.link_updated) as calls:
            update_link(link, slug="after")
        assert calls[0]["slug"] == "before"
        assert link.slug == "after"
        assert visits.visit_count(link.id) == 1  # the count belongs to the link
        with pytest.raises(SlugTaken):
            update_link(link, slug="occupied")
        update_link(link, slug=None, title="slug kept")
        assert link.slug == "after"
        # The old slug is free again.
        assert create_link(owner, url="https://example.net/", slug="before").slug == "before"


def test_visit_count_survives_a_new_limit(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        link = create_link(make_user(), url="https://example.com/", max_visits=2)
        assert visits.consume_visit(link.id, 2)
        update_link(link, max_visits=5)
        assert visits.visit_count(link.id) == 1


def test_delete_frees_the_slug_and_announces(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        owner = make_user()
        link = create_link(owner, url="https://example.com/", slug="gone", max_visits=1, tags=["t"])
        assert visits.consume_visit(link.id, 1)
        link_id, owner_id = link.id, owner.id
        with received(signals.link_deleted) as calls:
            delete_link(link)
        assert calls == [
            {"sender": app, "slug": "gone", "host": None, "link_id": link_id, "owner_id": owner_id}
        ]
        assert db.session.scalar(select(func.count()).select_from(Link)) == 0
        again = create_link(owner, url="https://example.org/", slug="gone", max_visits=1)
        assert visits.visit_count(again.id) == 0  # a new link starts from zero


def test_users_see_their_own_links_and_admins_all(app: Flask, make_user: UserFactory) -> None:
    with app.app_context():
        alice, bob, admin = make_user(), make_user(), make_user(admin=True)
        create_link(alice, url="https://example.com/", slug="alices")
        create_link(bob, url="https://example.com/", slug="bobs")

        def slugs_of(user: Any) -> set[str]:
            return {link.slug for link in db.session.scalars(visible_links(user))}

        assert slugs_of(alice) == {"alices"}
        assert slugs_of(bob) == {"bobs"}
        assert slugs_of(admin) == {"alices", "bobs"}


def test_get_link_for_hides_other_peoples_links(app: Flask, make_user: UserFactory) -> None:
    """IDOR: someone else's link and a missing one are the same 404."""
    with app.app_context():
        alice, bob, admin = make_user(), make_user(), make_user(admin=True)
        create_link(alice, url="https://example.com/", slug="private")
        assert get_link_for(alice, "private").slug == "private"
        assert get_link_for(admin, "private").slug == "private"
        with pytest.raises(NotFound) as foreign:
            get_link_for(bob, "private")
        with pytest.raises(NotFound) as missing:
            get_link_for(bob, "no-such-link")
        assert foreign.value.description == missing.value.description


def test_normalise_tags() -> None:
    assert normalise_tags([" A ", "a", "B  c", ""]) == ["a", "b c"]
    assert normalise_tags("x, Y ,x,,") == ["x", "y"]
    assert normalise_tags(None) == []
    with pytest.raises(ValidationError):
        normalise_tags([str(n) for n in range(21)])
    with pytest.raises(ValidationError):
        normalise_tags([1])  # type: ignore[list-item]


@pytest.mark.parametrize("field", ["title", "tags"])
@pytest.mark.parametrize("bad", ["nul\x00byte", "bell\x07", "escape\x1b[31m"])
def test_control_characters_are_field_errors(
    app: Flask, make_user: UserFactory, field: str, bad: str
) -> None:
    """PostgreSQL cannot store NUL: refuse it (and its kin) as a field error, not a 500."""
    value: Any = [bad] if field == "tags" else bad
    with app.app_context(), pytest.raises(ValidationError) as caught:
        create_link(make_user(), url="https://example.org/x", **{field: value})
    assert field in caught.value.errors


# -- write_batch: many links through the same checks ----------------------------------------------


def test_a_batch_checks_each_row_like_create_link(app: Flask, make_user: UserFactory) -> None:
    rows: list[dict[str, Any]] = [
        {"url": "javascript:alert(1)"},
        {"url": "https://example.com/", "slug": "api"},
        {"url": "https://example.com/", "title": "x" * 201},
        {"url": "https://example.com/", "max_visits": 0},
    ]
    with app.test_request_context():
        owner = make_user()
        expected = []
        for row in rows:
            with pytest.raises(ValidationError) as refused:
                create_link(owner, **row)
            expected.append(refused.value.errors)
        good: dict[str, Any] = {
            "url": "https://Example.com/ok",
            "slug": "ok",
            "tags": ["B", "a", "b"],
        }
        result = services.write_batch(owner, list(enumerate([*rows, good], start=1)))
        assert [(number, errors) for number, _, errors in result.failed] == list(
            zip(range(1, 5), expected, strict=True)
        )
        assert result.created == ["ok"]
        link = db.session.scalar(select(Link).where(Link.slug == "ok"))
        assert link is not None
        assert link.url == "https://example.com/ok"
        assert [tag.name for tag in link.tags] == ["a", "b"]  # lower-cased, once each


def test_a_batch_resets_counters_and_evicts_the_cache(app: Flask, make_user: UserFactory) -> None:
    from service.links.cache import link_cache

    with app.test_request_context():
        owner = make_user()
        assert link_cache.lookup("fresh") is None  # a "no such link" entry is now cached
        # Counters left by deleted links under every id the new link may be given (SQLite
        # hands out a deleted link's id again).
        for link_id in range(1, 50):
            assert visits.consume_visit(link_id, 9)
        result = services.write_batch(
            owner, [(1, {"url": "https://example.com/", "slug": "fresh"})]
        )
        assert result.created == ["fresh"]
        fresh_id = db.session.scalar(select(Link.id).where(Link.slug == "fresh"))
        assert fresh_id is not None
        assert fresh_id < 50
        assert visits.visit_count(fresh_id) == 0
        record = link_cache.lookup("fresh")
        assert record is not None
        assert record.url == "https://example.com/"


def test_a_batch_is_announced_once(app: Flask, make_user: UserFactory) -> None:
    """An import sends ``links_written`` once per batch, naming what it created and changed."""
    with app.test_request_context():
        owner = make_user()
        services.write_batch(owner, [(1, {"url": "https://example.com/", "slug": "kept"})])
        rows = [
            (1, {"url": "https://example.com/new", "slug": "kept"}),
            (2, {"url": "https://example.com/", "slug": "added"}),
        ]
        with received(signals.links_written) as calls:
            services.write_batch(owner, rows, update_existing=True)
    assert len(calls) == 1
    assert calls[0]["created"] == ["added"]
    assert calls[0]["updated"] == ["kept"]
