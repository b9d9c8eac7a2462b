"""CSRF, rate-limit and login hooks run only on the blueprints with forms, limits and logins
(:mod:`service.extensions.scoping`); their behaviour is tested where it lives
(tests/security/test_owasp.py: every form refuses a POST without its token;
tests/api/test_auth.py and tests/links/test_views.py: the limits)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from service.extensions import csrf, limiter, login_manager
from service.links.services import create_link
from tests.fixtures.users import UserFactory

pytestmark = pytest.mark.integration

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _belongs_to_an_extension(hook: Any) -> bool:
    owners = (csrf, limiter, login_manager)
    if getattr(hook, "__self__", None) in owners:
        return True
    if any(owner in getattr(hook, "args", ()) for owner in owners):
        return True
    return "CSRFProtect" in getattr(hook, "__qualname__", "")


def test_the_redirect_runs_no_csrf_limiter_or_login_hook(app: Flask) -> None:
    """A redirect that misses the lane goes through the app-wide hooks and the redirect
    blueprint's: none of them is CSRF's, the limiter's or Flask-Login's."""
    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        for blueprint in (None, "redirect"):
            found = [h for h in hooks.get(blueprint, []) if _belongs_to_an_extension(h)]
            assert found == [], (blueprint, found)


def test_the_hooks_sit_where_forms_limits_and_logins_are(app: Flask) -> None:
    assert app.extensions["linkfleet.hook_scopes"] == {
        "csrf": [
            "accounts",
            "api_ui",
            "dashboard",
            "domains",
            "migrate",
            "redirect.password",
            "webhooks",
        ],
        # The APIs' per-key limits are @limiter.limit too (links, transfer, visits, webhooks,
        # domains, Kutt's, Shlink's);
        # the YOURLS API limits each action inside its one view.
        "limiter": [
            "accounts",
            "dashboard",
            "domains_api",
            "kutt",
            "links",
            "redirect.password",
            "shlink",
            "transfer",
            "visits_api",
            "webhooks_api",
            "yourls",
        ],
        "login": ["accounts"],
    }


def test_limit_headers_on_a_limited_form_none_on_the_redirect(
    app: Flask, make_user: UserFactory
) -> None:
    """The limiter's after-request hook still runs on the password form (its headers, and
    the ``deduct_when`` that test_views.py exercises), and not on the redirect."""
    app.fast_lane = None  # type: ignore[attr-defined]  # the full dispatch, the hooks' path
    with app.app_context():
        user = make_user("scopes@example.com")
        create_link(user, url="https://example.org/a", slug="scoped")
        create_link(user, url="https://example.org/b", slug="locked", password="open sesame")
    client = app.test_client()
    redirect = client.get("/scoped")
    assert redirect.status_code == 302
    assert not [name for name in redirect.headers.keys() if name.startswith("X-RateLimit")]  # noqa: SIM118
    assert redirect.headers.get("Set-Cookie") is None
    refused = client.post("/locked", data={"password": "guess"})
    assert refused.status_code == 400  # no CSRF token: refused by the form's blueprint
    token = _CSRF.search(client.get("/locked").get_data(as_text=True))
    assert token is not None
    wrong = client.post("/locked", data={"csrf_token": token.group(1), "password": "x"})
    assert wrong.status_code == 403
    assert wrong.headers.get("X-RateLimit-Limit") == "10"
