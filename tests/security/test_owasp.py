"""OWASP-driven checks that walk the whole app: every form's CSRF, every object endpoint's
authorization, the session cookie, security headers on every kind of response, argon2id
parameters, secrets at rest, and rate limits shared by replicas.

The walks enumerate ``app.url_map``, so a route added later is checked (or fails the
inventory assertion) without anyone remembering to add it here.
"""

from __future__ import annotations

import io
import re
from http.cookies import SimpleCookie
from typing import Any

import pytest
import redis
from argon2 import extract_parameters
from argon2.low_level import Type
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select, text

from service.accounts.models import User
from service.api.keys import create_api_key
from service.api.models import ApiKey
from service.extensions import db
from service.kutt.ids import public_id
from service.links.models import Link
from service.links.services import create_link
from service.migrate.models import MigrationJob
from service.webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint
from service.webhooks.services import create_endpoint
from tests.fixtures.replicas import ReplicaFactory
from tests.fixtures.services import RedisServer
from tests.fixtures.users import DEFAULT_TEST_PASSWORD, WebHelper

pytestmark = pytest.mark.integration

KEY_IN_PAGE = re.compile(r"lf_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}")


def login(web: WebHelper, client: FlaskClient, email: str) -> None:
    web.log_in(client, email)


def session_cookie(response: Any) -> str:
    """The ``Set-Cookie`` header of the session cookie (the last one set)."""
    headers = [h for h in response.headers.getlist("Set-Cookie") if "linkfleet_session=" in h]
    assert headers, "no session cookie was set"
    return str(headers[-1])


def cookie_attributes(header: str) -> dict[str, str]:
    parsed: SimpleCookie = SimpleCookie()
    parsed.load(header)
    morsel = parsed["linkfleet_session"]
    return {key: str(value) for key, value in morsel.items() if value}


# -- the session cookie -------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_lax_without_secure_over_http(
    client: FlaskClient, web: WebHelper
) -> None:
    web.create_user("cookie@example.com")
    response = web.submit(
        client, "/login", {"email": "cookie@example.com", "password": DEFAULT_TEST_PASSWORD}
    )
    attributes = cookie_attributes(session_cookie(response))
    assert attributes["httponly"] == "True"
    assert attributes["samesite"] == "Lax"
    assert "secure" not in attributes  # a plain-HTTP local fleet would lose its logins
    assert "Strict-Transport-Security" not in response.headers


def test_session_cookie_is_secure_when_the_request_came_over_https(
    app: Flask, web: WebHelper
) -> None:
    """Behind nginx with TLS, ``X-Forwarded-Proto: https`` from the trusted proxy makes
    gunicorn set the scheme to https; the cookie then is ``Secure`` with no setting."""
    web.create_user("tls@example.com")
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    form = client.get("/login", base_url="https://sho.rt")
    token = web.csrf_from(form.get_data(as_text=True))
    response = client.post(
        "/login",
        base_url="https://sho.rt",
        data={"email": "tls@example.com", "password": DEFAULT_TEST_PASSWORD, "csrf_token": token},
        headers={"Referer": "https://sho.rt/login"},  # Flask-WTF checks it over HTTPS
    )
    assert response.status_code == 302
    attributes = cookie_attributes(session_cookie(response))
    assert attributes["secure"] == "True"
    assert attributes["httponly"] == "True"
    assert attributes["samesite"] == "Lax"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookie_secure_setting_forces_secure(replica_factory: ReplicaFactory) -> None:
    app = replica_factory("replica-secure", SESSION_COOKIE_SECURE=True)
    response = app.test_client().get("/login")
    assert cookie_attributes(session_cookie(response))["secure"] == "True"


# -- security headers on every kind of response ------------------------------------------------


@pytest.fixture
def everything(app: Flask, web: WebHelper) -> dict[str, Any]:
    """A user with a link, a password link and an API key; a logged-in client."""
    user_id = web.create_user("headers@example.com")
    with app.app_context():
        user = db.session.get(User, user_id)
        create_link(user, url="https://example.org/plain", slug="plain")
        create_link(user, url="https://example.org/secret", slug="locked", password="open sesame")
        _, key = create_api_key(user_id, "headers", "write")
    client = app.test_client()
    login(web, client, "headers@example.com")
    return {"client": client, "key": key}


KINDS = [
    ("landing page", "GET", "/", {}),
    ("form", "GET", "/login", {}),
    ("dashboard", "GET", "/dashboard", {}),
    ("stats page", "GET", "/dashboard/links/plain/stats", {}),
    ("redirect", "GET", "/plain", {}),
    ("password form", "GET", "/locked", {}),
    ("static file", "GET", "/static/linkfleet.css", {}),
    ("404 page", "GET", "/no-such-link", {}),
    ("405 page", "POST", "/healthz", {}),
    ("API JSON", "GET", "/api/v1/links", {"api": True}),
    ("API error", "GET", "/api/v1/links", {}),
    ("API 404 problem", "GET", "/api/v1/links/nope", {"api": True}),
    ("QR image", "GET", "/api/v1/links/plain/qr.png", {"api": True}),
    ("OpenAPI", "GET", "/api/openapi.json", {}),
    ("API docs", "GET", "/api/docs/", {}),
    ("health", "GET", "/healthz", {}),
    ("metrics", "GET", "/metrics", {}),
]


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_security_headers_on_every_kind_of_response(
    everything: dict[str, Any], https: bool
) -> None:
    client: FlaskClient = everything["client"]
    base = "https://localhost" if https else "http://localhost"
    seen = set()
    for kind, method, path, options in KINDS:
        headers = {"Authorization": f"Bearer {everything['key']}"} if options.get("api") else {}
        response = client.open(path, method=method, headers=headers, base_url=base)
        seen.add(response.status_code // 100)
        policy = response.headers.get("Content-Security-Policy", "")
        assert policy, kind
        assert "unsafe-inline" not in policy, kind
        assert "unsafe-eval" not in policy, kind
        assert "frame-ancestors 'none'" in policy, kind
        assert "default-src 'self'" in policy, kind
        assert response.headers["X-Content-Type-Options"] == "nosniff", kind
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", kind
        assert response.headers["X-Frame-Options"] == "DENY", kind
        assert ("Strict-Transport-Security" in response.headers) is https, kind
        response.close()
    assert seen >= {2, 3, 4}  # successes, redirects and errors were all looked at


# -- argon2id ------------------------------------------------------------------------------


def test_account_and_link_passwords_use_argon2id_at_the_owasp_minimum(
    app: Flask, web: WebHelper
) -> None:
    user_id = web.create_user("argon@example.com")
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        link = create_link(user, url="https://example.org/", password="link password")
        for stored in (user.password_hash, link.password_hash):
            assert stored is not None
            parameters = extract_parameters(stored)
            assert parameters.type is Type.ID
            assert parameters.memory_cost >= 19 * 1024  # KiB
            assert parameters.time_cost >= 2
            assert parameters.parallelism == 1
            assert parameters.salt_len >= 16


# -- secrets at rest ---------------------------------------------------------------------------


def test_api_keys_exist_nowhere_but_in_the_one_response(
    app: Flask, client: FlaskClient, web: WebHelper, redis_server: RedisServer
) -> None:
    """The key is shown once: every table and every Redis value (sessions, flashes, caches)
    holds at most its SHA-256."""
    web.create_user("keys@example.com")
    login(web, client, "keys@example.com")
    page = web.submit(client, "/dashboard/api-keys", {"name": "ci", "scope": "write"})
    assert page.status_code == 201
    assert page.headers["Cache-Control"] == "no-store"
    key = KEY_IN_PAGE.search(page.get_data(as_text=True))
    assert key
    # lf_<prefix>_<secret>: the prefix has no "_", the secret (token_urlsafe) may have some.
    secret = key.group(0).split("_", 2)[2]
    assert len(secret) == 43
    assert client.get("/dashboard/api-keys").get_data(as_text=True).count(secret) == 0

    with app.app_context():
        for table in inspect(db.engine).get_table_names():
            rows = db.session.execute(text(f'SELECT * FROM "{table}"')).all()  # noqa: S608
            dump = repr(rows)
            assert secret not in dump, f"the API key is stored in {table}"
        stored = db.session.scalar(select(ApiKey.key_hash))
        assert stored is not None
        assert re.fullmatch(r"[0-9a-f]{64}", stored)
    store = redis.Redis.from_url(redis_server.url)
    for name in store.scan_iter():
        kind = store.type(name)
        if kind == b"string":
            values = [store.get(name) or b""]
        elif kind == b"hash":
            values = list(store.hgetall(name).values())
        else:
            continue
        assert all(secret.encode() not in value for value in values), name
    store.close()


# -- CSRF on every form --------------------------------------------------------------------

#: Every HTML form endpoint (POST outside the APIs that authenticate by what the request
#: carries, a key in a header or a YOURLS signature, never by the session cookie).
SIGNED_APIS = ("/api/v1/", "/api/v2/", "/rest/", "/yourls-api.php")
FORM_ENDPOINTS = {
    "accounts.signup",
    "accounts.login",
    "accounts.logout",
    "accounts.password",
    "dashboard.create",
    "dashboard.edit",
    "dashboard.delete",
    "api_ui.keys",
    "api_ui.revoke_key",
    "api_ui.transfer",
    "redirect.password.unlock",
    "webhooks.index",
    "webhooks.enable",
    "webhooks.disable",
    "webhooks.ping",
    "webhooks.delete",
    "domains.admin_page",
    "domains.edit",
    "migrate.index",
}


def test_every_form_refuses_a_post_without_its_csrf_token(
    app: Flask, client: FlaskClient, web: WebHelper
) -> None:
    user_id = web.create_user("csrf@example.com")
    with app.app_context():
        user = db.session.get(User, user_id)
        create_link(user, url="https://example.org/keep", slug="keep")
        create_link(user, url="https://example.org/locked", slug="lockd", password="pass word")
        row, _ = create_api_key(user_id, "keep", "write")
        key_id = row.id
        endpoint_id = create_endpoint(user_id, "https://93.184.215.14/keep", EVENTS).id
    login(web, client, "csrf@example.com")
    values = {"slug": "keep", "key_id": key_id, "endpoint_id": endpoint_id, "host": "go.example"}
    found = set()
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()) or rule.rule.startswith(SIGNED_APIS):
            continue
        found.add(rule.endpoint)
        args = {name: values[name] for name in rule.arguments}
        if rule.endpoint == "redirect.password.unlock":
            args["slug"] = "lockd"
        path = rule.build(args, append_unknown=False)[1]  # type: ignore[index]
        data: dict[str, Any] = {
            "url": "https://evil.example/",
            "slug": "keep",
            "email": "csrf2@example.com",
            "password": "a long password 1",
            "confirm": "a long password 1",
            "current_password": DEFAULT_TEST_PASSWORD,
            "new_password": "another long password",
            "name": "evil",
            "scope": "write",
            "redirect_type": "302",
        }
        if rule.endpoint == "api_ui.transfer":
            data["file"] = (io.BytesIO(b"url\nhttps://evil.example/\n"), "links.csv")
        response = client.post(path, data=data, content_type="multipart/form-data")
        assert response.status_code in {400, 422}, (rule.rule, response.status_code)
    assert found == FORM_ENDPOINTS, "a form was added or removed: review its CSRF"
    with app.app_context():
        link = db.session.scalar(select(Link).where(Link.slug == "keep"))
        assert link is not None
        assert link.url == "https://example.org/keep"
        assert db.session.get(ApiKey, key_id).revoked_at is None  # type: ignore[union-attr]
        assert db.session.scalar(select(User).where(User.email == "csrf2@example.com")) is None
        assert db.session.scalar(select(db.func.count(Link.id))) == 2
        assert db.session.scalar(select(db.func.count(WebhookEndpoint.id))) == 1
        assert db.session.get(WebhookEndpoint, endpoint_id).enabled  # type: ignore[union-attr]
        assert db.session.scalar(select(db.func.count(WebhookDelivery.id))) == 0
    assert client.get("/dashboard").status_code == 200  # still logged in


def test_the_api_ignores_the_session_cookie(
    client: FlaskClient, web: WebHelper, app: Flask
) -> None:
    """A logged-in browser tricked into a cross-site POST to the API carries no bearer key:
    the session cookie alone authenticates nothing there (no CSRF surface)."""
    web.create_user("cookie-api@example.com")
    login(web, client, "cookie-api@example.com")
    response = client.post("/api/v1/links", json={"url": "https://evil.example/"})
    assert response.status_code == 401
    kutt = client.post("/api/v2/links", data={"target": "https://evil.example/"})
    assert kutt.status_code == 401
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Link.id))) == 0


def test_the_yourls_api_ignores_the_session_cookie(
    client: FlaskClient, web: WebHelper, app: Flask
) -> None:
    """The same for ``/yourls-api.php``: without a signature or a password in the request,
    a logged-in browser's cross-site POST is YOURLS' 403 and creates nothing."""
    web.create_user("cookie-yourls@example.com")
    login(web, client, "cookie-yourls@example.com")
    response = client.post(
        "/yourls-api.php",
        data={"action": "shorturl", "url": "https://evil.example/", "format": "json"},
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Link.id))) == 0


# -- IDOR on every object endpoint ---------------------------------------------------------------

#: Object endpoints that are public on purpose (a short link is meant to be followed).
PUBLIC_OBJECT_ENDPOINTS = {
    "redirect.follow",
    "preview.show",
    "redirect.password.unlock",
    "api_docs.asset",
    "static",
}
#: Domains belong to no user: administrators manage them, anyone else gets 403 (tested in
#: tests/domains/test_management.py), so they are no object to hide here.
ADMIN_OBJECT_ENDPOINTS = {
    "domains.edit",
    "domains_api.read",
    "domains_api.change",
    "domains_api.remove",
    "kutt.domains_are_administered",  # Kutt's domain removal: 403 for every key
}


def test_every_object_endpoint_hides_other_users_objects(app: Flask, web: WebHelper) -> None:
    """Bob, logged in and with his own key, tries every route that names an object of
    Alice's, with every method it accepts and valid CSRF tokens: 404 everywhere, as for an
    object that does not exist, and nothing of Alice's changes."""
    alice_id = web.create_user("alice@example.com")
    bob_id = web.create_user("bob@example.com")
    with app.app_context():
        alice = db.session.get(User, alice_id)
        alices = create_link(
            alice,
            url="https://example.org/alice",
            slug="alices",
            title="private",
            tags=["alices-tag"],
        )
        kutt_id = public_id(alices.id, alices.created_at)
        row, _ = create_api_key(alice_id, "alice's", "write")
        alice_key_id = row.id
        _, bob_key = create_api_key(bob_id, "bob's", "write")
        alice_hook = create_endpoint(alice_id, "https://93.184.215.14/alice", EVENTS).id
        alice_job = MigrationJob(owner_id=alice_id, peer="kutt", url="https://private.example")
        db.session.add(alice_job)
        db.session.commit()
        alice_job_id = alice_job.id
    bob = app.test_client()
    login(web, bob, "bob@example.com")
    token = web.csrf(bob, "/dashboard/new")
    values = {
        "slug": "alices",
        "key_id": alice_key_id,
        "public_id": kutt_id,
        "rest": "alices",
        "short_code": "alices",
        "tag": "alices-tag",
        "domain": "alices.example",  # a domain nobody added names nothing
        "endpoint_id": alice_hook,
        "job_id": alice_job_id,
        "name": "visits",  # the stats page's CSV downloads
    }
    checked = set()
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint in PUBLIC_OBJECT_ENDPOINTS | ADMIN_OBJECT_ENDPOINTS:
            continue
        path = rule.build({name: values[name] for name in rule.arguments})[1]  # type: ignore[index]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if path.startswith(("/api/", "/rest/")):
                response = bob.open(
                    path,
                    method=method,
                    headers={"Authorization": f"Bearer {bob_key}", "X-API-Key": bob_key},
                    json={"title": "pwned", "url": "https://evil.example/"},
                )
            else:
                response = bob.open(
                    path,
                    method=method,
                    data={"csrf_token": token, "url": "https://evil.example/", "slug": "alices"},
                )
            assert response.status_code == 404, (method, path, response.status_code)
            assert "private" not in response.get_data(as_text=True)
            checked.add(f"{method} {rule.rule}")
    assert len(checked) >= 13, checked
    with app.app_context():
        link = db.session.scalar(select(Link).where(Link.slug == "alices"))
        assert link is not None
        assert (link.url, link.title) == ("https://example.org/alice", "private")
        assert db.session.get(ApiKey, alice_key_id).revoked_at is None  # type: ignore[union-attr]
        hook = db.session.get(WebhookEndpoint, alice_hook)
        assert hook is not None
        assert (hook.url, hook.enabled) == ("https://93.184.215.14/alice", True)
        assert db.session.scalar(select(db.func.count(WebhookDelivery.id))) == 0


def test_an_import_cannot_overwrite_another_users_link(app: Flask, web: WebHelper) -> None:
    alice_id = web.create_user("alice2@example.com")
    bob_id = web.create_user("bob2@example.com")
    with app.app_context():
        alice = db.session.get(User, alice_id)
        create_link(alice, url="https://example.org/alice", slug="shared-name")
        _, bob_key = create_api_key(bob_id, "bob's", "write")
    response = app.test_client().post(
        "/api/v1/links/import?on_conflict=update",
        data=b"url,slug\nhttps://evil.example/,shared-name\n",
        headers={"Authorization": f"Bearer {bob_key}", "Content-Type": "text/csv"},
    )
    assert response.status_code in {200, 207, 422}, response.get_data(as_text=True)
    assert response.get_json()["updated"] == 0
    with app.app_context():
        link = db.session.scalar(select(Link).where(Link.slug == "shared-name"))
        assert link is not None
        assert (link.url, link.owner_id) == ("https://example.org/alice", alice_id)


# -- rate limits shared by every replica ------------------------------------------------------


def _alternate(first: FlaskClient, second: FlaskClient, count: int) -> list[FlaskClient]:
    return [first if number % 2 == 0 else second for number in range(count)]


def test_login_budget_is_shared_by_replicas(
    app: Flask, web: WebHelper, replica_factory: ReplicaFactory
) -> None:
    web.create_user("budget@example.com")
    one, two = app.test_client(), replica_factory().test_client()
    statuses = []
    for client in _alternate(one, two, 11):
        response = web.submit(
            client, "/login", {"email": "budget@example.com", "password": "wrong password!"}
        )
        statuses.append(response.status_code)
    assert statuses == [422] * 10 + [429]


def test_signup_budget_is_shared_by_replicas(
    app: Flask, web: WebHelper, replica_factory: ReplicaFactory
) -> None:
    one, two = app.test_client(), replica_factory().test_client()
    statuses = []
    for number, client in enumerate(_alternate(one, two, 6)):
        password = "a signup password"
        response = web.submit(
            client,
            "/signup",
            {"email": f"s{number}@example.com", "password": password, "confirm": password},
        )
        statuses.append(response.status_code)
    assert statuses == [302] * 5 + [429]


def test_link_password_budget_is_shared_by_replicas(
    app: Flask, web: WebHelper, replica_factory: ReplicaFactory
) -> None:
    user_id = web.create_user("pw@example.com")
    with app.app_context():
        create_link(
            db.session.get(User, user_id), url="https://example.org/", slug="pw", password="right"
        )
    one, two = app.test_client(), replica_factory().test_client()
    statuses = []
    for client in _alternate(one, two, 11):
        response = web.submit(client, "/pw", {"password": "wrong"})
        statuses.append(response.status_code)
    assert statuses == [403] * 10 + [429]
    # Another address still has its own budget (one per client and link).
    fresh = app.test_client()
    fresh.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert web.submit(fresh, "/pw", {"password": "right"}).status_code == 303


def test_dashboard_link_creation_budget_is_per_user_and_shared_by_replicas(
    app: Flask, web: WebHelper, replica_factory: ReplicaFactory
) -> None:
    app.config["DASHBOARD_CREATE_RATE_LIMIT"] = "3 per minute"
    other = replica_factory(DASHBOARD_CREATE_RATE_LIMIT="3 per minute")
    web.create_user("maker@example.com")
    web.create_user("other-maker@example.com")
    one, two = app.test_client(), other.test_client()
    login(web, one, "maker@example.com")
    login(web, two, "maker@example.com")
    statuses = []
    for number, client in enumerate(_alternate(one, two, 4)):
        response = web.submit(
            client,
            "/dashboard/new",
            {"url": f"https://example.org/{number}", "redirect_type": "302"},
        )
        statuses.append(response.status_code)
    assert statuses == [302, 302, 302, 429]
    # A failed form does not spend the budget; another user has a budget of their own.
    someone = app.test_client()
    login(web, someone, "other-maker@example.com")
    bad = web.submit(
        someone, "/dashboard/new", {"url": "javascript:alert(1)", "redirect_type": "302"}
    )
    assert bad.status_code == 422
    good = web.submit(
        someone, "/dashboard/new", {"url": "https://example.org/ok", "redirect_type": "302"}
    )
    assert good.status_code == 302
