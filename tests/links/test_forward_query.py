"""``forward_query``: the redirect carries the visit's query string to the target, on real
Redis and both databases, through both paths a redirect can take (Flask's full dispatch and
the redirect lane, which answer with the same :func:`~service.links.views.redirect_answer`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from service.extensions import db
from service.links.cache import KEY_PREFIX, LinkRecord, link_cache
from service.links.models import Link
from service.links.services import create_link, update_link
from tests.fixtures.links import quiesce_link_cache
from tests.fixtures.services import RedisServer
from tests.fixtures.users import UserFactory
from tests.links.test_views import full_dispatches

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("redirect_path")]

TARGET = "https://example.com/landing?lang=en#top"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


def new_link(app: Flask, make_user: UserFactory, **fields: Any) -> str:
    fields.setdefault("url", TARGET)
    with app.app_context():
        return create_link(make_user(), **fields).slug


def test_a_link_without_the_flag_drops_the_query_as_before(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user)
    response = client.get(f"/{slug}?utm_source=mail&lang=fr")
    assert response.headers["Location"] == TARGET


def test_the_visits_query_is_merged_into_the_target(
    app: Flask, client: FlaskClient, make_user: UserFactory, redirect_path: str
) -> None:
    slug = new_link(app, make_user, forward_query=True)
    client.get(f"/{slug}")  # the lane's client fills L1 first; this one does on the full path
    with full_dispatches(app) as dispatched:
        response = client.get(f"/{slug}?utm_source=mail&lang=fr")
    assert response.status_code == 302
    # The visit's lang wins in the target's place; its other parameter follows; #top last.
    assert response.headers["Location"] == (
        "https://example.com/landing?lang=fr&utm_source=mail#top"
    )
    assert response.headers["Cache-Control"] == "private, max-age=0"
    assert dispatched == ([] if redirect_path == "redirect-lane" else [f"/{slug}"])
    assert client.get(f"/{slug}").headers["Location"] == TARGET  # no query: the target as is
    assert client.head(f"/{slug}?x=1").headers["Location"] == (
        "https://example.com/landing?lang=en&x=1#top"
    )


def test_odd_query_strings_give_a_valid_location(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, url="https://example.com/", forward_query=True)
    response = client.get(f"/{slug}", query_string="q=%E2%82%AC+x&bad=<%zz>&&flag")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        "https://example.com/?q=%E2%82%AC%20x&bad=%3C%25zz%3E&flag"
    )


def test_a_matching_rules_target_gets_the_query_too(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    rule = {
        "url": "https://example.com/mail?from=rule",
        "conditions": [{"type": "query", "name": "utm_source", "value": "mail"}],
    }
    slug = new_link(app, make_user, forward_query=True, rules=[rule])
    matched = client.get(f"/{slug}?utm_source=mail&from=visit")
    assert matched.headers["Location"] == "https://example.com/mail?from=visit&utm_source=mail"
    assert matched.headers["Cache-Control"] == "private, no-store"
    other = client.get(f"/{slug}?utm_source=web")
    assert other.headers["Location"] == "https://example.com/landing?lang=en&utm_source=web#top"


def test_switching_the_flag_changes_the_redirect_at_once(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, url="https://example.com/")
    assert client.get(f"/{slug}?a=1").headers["Location"] == "https://example.com/"
    with app.app_context():
        link = db.session.scalars(db.select(Link).filter_by(slug=slug)).one()
        update_link(link, forward_query=True)
    assert client.get(f"/{slug}?a=1").headers["Location"] == "https://example.com/?a=1"


def test_a_password_link_forwards_the_query_after_the_password(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, url="https://example.com/", password="pw", forward_query=True)
    page = client.get(f"/{slug}?utm_source=mail&a=1").get_data(as_text=True)
    action = _ACTION.search(page)
    token = _CSRF.search(page)
    assert action
    assert token
    assert action.group(1) == f"/{slug}?utm_source=mail&amp;a=1"
    answer = client.post(
        f"/{slug}?utm_source=mail&a=1", data={"csrf_token": token.group(1), "password": "pw"}
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "https://example.com/?utm_source=mail&a=1"


def test_an_l2_entry_from_before_the_flag_still_serves(
    app: Flask,
    client: FlaskClient,
    make_user: UserFactory,
    redis_server: RedisServer,
) -> None:
    """Entries written by a release without ``forward_query`` (ten items, the same version)
    are links without it, and are served from L2 rather than dropped."""
    slug = new_link(app, make_user, url="https://example.com/from-the-database")
    quiesce_link_cache(app)
    with app.app_context():
        link_id = db.session.scalars(db.select(Link.id).filter_by(slug=slug)).one()
    old = [3, slug, "https://example.com/from-l2", 302, None, None, None, False, link_id, []]
    raw = redis.Redis.from_url(redis_server.url)
    raw.set(KEY_PREFIX + slug, json.dumps(old))
    link_cache.state(app).clear()
    assert client.get(f"/{slug}?a=1").headers["Location"] == "https://example.com/from-l2"
    record = LinkRecord.from_wire(old)
    assert record is not None
    assert not record.forward_query
    new = LinkRecord.from_wire(json.loads(json.dumps([*old, True])))
    assert new is not None
    assert new.forward_query
    assert new.to_wire() == [*old, True]
