"""Server-side sessions: stored in Redis as JSON, readable by any replica, read only when a
view touches them, and never decoded from anything but JSON."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import flask_login
import msgspec
import pytest
import redis
from flask import Flask, session
from flask.testing import FlaskClient

from service.accounts.models import User
from service.extensions import db
from service.links.services import create_link
from tests.fixtures.app import AppFactory
from tests.fixtures.links import quiesce_link_cache
from tests.fixtures.services import RedisServer
from tests.fixtures.users import WebHelper


def _replica(make_app: AppFactory, name: str, **config: Any) -> Flask:
    """A replica with two routes that write and read the session (CSRF off for the POST)."""
    app = make_app(REPLICA_NAME=name, WTF_CSRF_ENABLED=False, **config)

    @app.post("/__remember/<word>")
    def remember(word: str) -> str:
        session["word"] = word
        return "ok"

    @app.get("/__recall")
    def recall() -> str:
        return str(session.get("word", ""))

    return app


def test_session_written_on_one_replica_is_read_on_another(
    make_app: AppFactory,
) -> None:
    one = _replica(make_app, "replica-1").test_client()
    two = _replica(make_app, "replica-2").test_client()
    one.post("/__remember/gevent")
    cookie = one.get_cookie("linkfleet_session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    two.set_cookie("linkfleet_session", cookie.value)
    response = two.get("/__recall")
    assert response.headers["X-Served-By"] == "replica-2"
    assert response.data == b"gevent"


def test_sessions_are_stored_as_json_not_pickle(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    client = _replica(make_app, "replica-1").test_client()
    client.post("/__remember/json")
    cookie = client.get_cookie("linkfleet_session")
    assert cookie is not None
    store = redis.Redis.from_url(redis_server.url)
    raw = store.get(f"linkfleet:session:{cookie.value}")
    assert raw is not None
    assert json.loads(raw)["word"] == "json"
    assert 0 < store.ttl(f"linkfleet:session:{cookie.value}") <= 14 * 86400


def test_reading_without_writing_stores_nothing(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    store = redis.Redis.from_url(redis_server.url)
    before = set(store.scan_iter("linkfleet:session:*"))
    client = _replica(make_app, "replica-1").test_client()
    client.get("/healthz")
    client.get("/__recall")
    assert set(store.scan_iter("linkfleet:session:*")) == before
    assert client.get_cookie("linkfleet_session") is None


def test_a_write_before_the_session_loaded_is_kept(make_app: AppFactory) -> None:
    """Code holding the session object itself (here the test client) may write before
    anything read it: the stored data loads around that write, never over it."""
    client = _replica(make_app, "replica-1").test_client()
    client.post("/__remember/stored")
    with client.session_transaction() as stored:
        stored["word"] = "written"
    assert client.get("/__recall").data == b"written"


def test_redis_outage_with_a_session_cookie_is_not_a_500(
    private_redis: RedisServer, make_app: AppFactory
) -> None:
    """Public pages still answer; pages that need Redis answer 503 with Retry-After."""
    app = _replica(make_app, "replica-1", REDIS_URL=private_redis.url)
    client = app.test_client()
    client.post("/__remember/before-outage")
    private_redis.stop()
    landing = client.get("/")
    assert landing.status_code == 200
    assert client.get("/__recall").data == b""  # served anonymously
    ready = client.get("/readyz")
    assert ready.status_code == 503
    login = client.post("/login", data={"email": "a@b.example", "password": "x" * 12})
    assert login.status_code == 503
    assert login.headers["Retry-After"] == "5"
    private_redis.start()  # an empty Redis again (the test server keeps nothing on disk)
    client.post("/__remember/after-outage")
    assert client.get("/__recall").data == b"after-outage"


# --- only JSON is ever decoded -------------------------------------------------------------


class _WritesAMarker:
    """Unpickling this creates ``path``: what a planted payload would do, harmlessly."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _pickle_payload(marker: Path) -> bytes:
    return pickle.dumps(_WritesAMarker(marker))


def test_the_pickle_payload_of_these_tests_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The payload planted below is real: Flask-Session's pickle fallback would run it."""
    marker = tmp_path / "unpickled"
    pickle.loads(_pickle_payload(marker)).close()  # noqa: S301  # nosec B301  # our own payload
    assert marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "garbage", "msgpack", "json-list"])
def test_a_planted_session_blob_is_refused_and_the_visitor_is_anonymous(
    capsys: pytest.CaptureFixture[str],
    redis_server: RedisServer,
    make_app: AppFactory,
    tmp_path: Path,
    kind: str,
) -> None:
    marker = tmp_path / "pwned"
    blob = {
        "pickle": _pickle_payload(marker),
        "garbage": b"\x80\x04\x95garbage\xff\xfe not a session",
        # Flask-Session 0.8 decodes msgpack too: a logged-in session forged in another format.
        "msgpack": msgspec.msgpack.encode({"_user_id": "1:token", "_fresh": True}),
        "json-list": b'["_user_id", "1:token"]',
    }[kind]
    app = _replica(make_app, "replica-1")
    store = redis.Redis.from_url(redis_server.url)
    store.set("linkfleet:session:planted", blob)
    client = app.test_client()
    client.set_cookie("linkfleet_session", "planted")

    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 302
    assert dashboard.headers["Location"].startswith("/login")
    assert client.get("/login").status_code == 200
    assert client.get("/__recall").status_code == 200
    assert not marker.exists()
    cookie = client.get_cookie("linkfleet_session")
    assert cookie is not None
    assert cookie.value != "planted"  # a fresh, empty session

    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    refusals = [r for r in logged if r["message"].startswith("refused a stored session")]
    assert refusals
    assert all(r["level"] == "WARNING" for r in refusals)
    assert all("127.0.0.1" not in json.dumps(r) for r in logged)  # the test client's IP


# --- opened lazily: a redirect never touches the session -----------------------------------


def _data_commands(store: redis.Redis) -> dict[str, int]:
    """Commands the server ran since the last ``CONFIG RESETSTAT``, but our own probes."""
    stats: dict[str, dict[str, int]] = store.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(stat["calls"])
        for name, stat in stats.items()
        if not name.startswith(("cmdstat_info", "cmdstat_config"))
    }


def test_a_redirect_with_a_logged_in_session_cookie_costs_no_redis_command(
    private_redis: RedisServer, make_app: AppFactory
) -> None:
    """The session is neither read nor refreshed, no cookie is set, and the login holds.

    Flask-Login's after-request hook reads the session on every response; without
    :class:`LazySessionLoginManager` this redirect would cost a GET and a SET.
    """
    app = make_app(REPLICA_NAME="replica-1", REDIS_URL=private_redis.url)
    web = WebHelper(app)
    user_id = web.create_user("lazy@example.com")
    with app.app_context():
        owner = db.session.get(User, user_id)
        assert owner is not None
        slug = create_link(owner, url="https://example.com/lazy").slug
    client = app.test_client()
    web.log_in(client, "lazy@example.com")
    assert client.get("/dashboard").status_code == 200
    cookie = client.get_cookie("linkfleet_session")
    assert cookie is not None
    assert client.get(f"/{slug}").status_code == 302
    quiesce_link_cache(app)  # the creation's delayed invalidation would evict it later
    assert client.get(f"/{slug}").status_code == 302  # in L1 from now on

    store = redis.Redis.from_url(private_redis.url)
    store.config_resetstat()
    for _ in range(5):
        response = client.get(f"/{slug}")
        assert response.status_code == 302
        assert response.headers["Location"] == "https://example.com/lazy"
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    assert _data_commands(store) == {}

    still = client.get("/dashboard")  # the session loads when a page needs it
    assert still.status_code == 200
    assert slug in still.get_data(as_text=True)  # logged in: the owner's link list
    assert _data_commands(store).get("get") == 1
    store.close()


def test_the_remember_cookie_hook_still_runs_when_the_session_is_touched(
    app: Flask, client: FlaskClient, web: WebHelper
) -> None:
    """A login with ``remember=True`` still gets Flask-Login's remember cookie where logins
    live: the hook runs on the accounts blueprint only (service.extensions.scoping), so the
    login view itself is what logs in here."""
    user_id = web.create_user("remember@example.com")

    def remember_me() -> str:
        user = db.session.get(User, user_id)
        assert user is not None
        flask_login.login_user(user, remember=True)
        return "ok"

    app.view_functions["accounts.login"] = remember_me
    response = client.get("/login")
    assert response.status_code == 200
    assert client.get_cookie("remember_token") is not None
