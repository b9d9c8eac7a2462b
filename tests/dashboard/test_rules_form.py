"""The rule editor's hidden JSON field through the dashboard's HTML forms (CSRF on), on
SQLite and PostgreSQL: saved rules, errors next to their rule, limits, the edit round trip."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.extensions import db
from service.links.models import Link
from tests.fixtures.users import WebHelper

IOS_RULE = {"url": "https://example.com/ios", "conditions": [{"type": "device", "value": "ios"}]}


@pytest.fixture
def author(web: WebHelper, client: FlaskClient) -> int:
    """A user, and ``client`` logged in as them."""
    user_id = web.create_user("author@example.com")
    web.log_in(client, "author@example.com")
    return user_id


def form(**fields: Any) -> dict[str, str]:
    return {"url": "https://example.com/page", "slug": "", "redirect_type": "302", **fields}


def rules_of(app: Flask, slug: str) -> Any:
    with app.app_context():
        return db.session.scalar(db.select(Link.rules).where(Link.slug == slug))


def rule_errors(page: str) -> list[tuple[str, str]]:
    """(rule index, message) of each error the editor will show next to its rule."""
    found = re.findall(r'<p class="field-error" data-rule-error="(\d+)">([^<]+)</p>', page)
    return [(index, html.unescape(message)) for index, message in found]


def test_the_form_saves_rules(app: Flask, client: FlaskClient, web: WebHelper, author: int) -> None:
    rules = [
        IOS_RULE,
        {"url": "https://example.com/fr", "conditions": [{"type": "language", "value": "FR"}]},
    ]
    response = web.submit(client, "/dashboard/new", form(slug="ruled", rules=json.dumps(rules)))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert rules_of(app, "ruled") == [
        IOS_RULE,
        {"url": "https://example.com/fr", "conditions": [{"type": "language", "value": "fr"}]},
    ]
    assert client.get("/ruled", headers={"Accept-Language": "fr"}).headers["Location"] == (
        "https://example.com/fr"
    )


def test_a_link_without_rules_has_none(
    app: Flask, client: FlaskClient, web: WebHelper, author: int
) -> None:
    response = web.submit(client, "/dashboard/new", form(slug="plain", rules=""))
    assert response.status_code == 302
    assert rules_of(app, "plain") == []


def test_errors_are_shown_next_to_their_rule(
    app: Flask, client: FlaskClient, web: WebHelper, author: int
) -> None:
    rules = [
        IOS_RULE,
        {"url": "ftp://example.com/", "conditions": [{"type": "country", "value": "France"}]},
    ]
    response = web.submit(client, "/dashboard/new", form(slug="bad", rules=json.dumps(rules)))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert rule_errors(page) == [
        ("1", "Rule 2, target: Only http:// and https:// links are allowed."),
        (
            "1",
            "Rule 2, condition 1 (country): Give a two-letter ISO 3166 country code such as FR.",
        ),
    ]
    # what was typed comes back to the editor, and nothing was written
    value = re.search(r'<input id="rules-json" name="rules" type="hidden" value="([^"]*)"', page)
    assert value is not None
    assert json.loads(html.unescape(value.group(1))) == rules
    assert rules_of(app, "bad") is None


def test_unreadable_or_too_many_rules(client: FlaskClient, web: WebHelper, author: int) -> None:
    for value, message in (
        ("{not json", "Give the rules as a list."),
        (json.dumps([IOS_RULE] * 11), "Use at most 10 rules."),
    ):
        response = web.submit(client, "/dashboard/new", form(rules=value))
        assert response.status_code == 422
        assert f'<p class="field-error">{message}</p>' in response.get_data(as_text=True)
    nine = [{**IOS_RULE, "conditions": IOS_RULE["conditions"] * 9}]
    response = web.submit(client, "/dashboard/new", form(rules=json.dumps(nine)))
    assert response.status_code == 422
    assert rule_errors(response.get_data(as_text=True)) == [
        ("0", "Rule 1: use at most 8 conditions in a rule.")
    ]


def test_editing_keeps_or_changes_the_rules(
    app: Flask, client: FlaskClient, web: WebHelper, author: int
) -> None:
    web.submit(client, "/dashboard/new", form(slug="ed", rules=json.dumps([IOS_RULE])))
    page = client.get("/dashboard/links/ed/edit").get_data(as_text=True)
    value = re.search(r'<input id="rules-json" name="rules" type="hidden" value="([^"]*)"', page)
    assert value is not None
    shown = html.unescape(value.group(1))
    assert json.loads(shown) == [IOS_RULE]

    unchanged = web.submit(client, "/dashboard/links/ed/edit", form(slug="ed", rules=shown))
    assert unchanged.status_code == 302
    assert "Nothing to change." in client.get("/dashboard/links/ed").get_data(as_text=True)

    removed = web.submit(client, "/dashboard/links/ed/edit", form(slug="ed", rules="[]"))
    assert removed.status_code == 302
    assert rules_of(app, "ed") == []
