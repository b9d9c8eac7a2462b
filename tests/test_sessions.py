"""Server-side sessions: stored in Redis as JSON, readable by any replica."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis
from flask import Flask, session

from service import create_app
from tests.conftest import RedisServer


def _replica(name: str, redis_server: RedisServer, database_config: dict[str, Any]) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "shared-secret",
            "REDIS_URL": redis_server.url,
            "REPLICA_NAME": name,
            "WTF_CSRF_ENABLED": False,
            **database_config,
        }
    )

    @app.post("/__remember/<word>")
    def remember(word: str) -> str:
        session["word"] = word
        return "ok"

    @app.get("/__recall")
    def recall() -> str:
        return str(session.get("word", ""))

    return app


def test_session_written_on_one_replica_is_read_on_another(
    redis_server: RedisServer, database_config: dict[str, Any]
) -> None:
    one = _replica("replica-1", redis_server, database_config).test_client()
    two = _replica("replica-2", redis_server, database_config).test_client()
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
    redis_server: RedisServer, database_config: dict[str, Any]
) -> None:
    client = _replica("replica-1", redis_server, database_config).test_client()
    client.post("/__remember/json")
    cookie = client.get_cookie("linkfleet_session")
    assert cookie is not None
    store = redis.Redis.from_url(redis_server.url)
    raw = store.get(f"linkfleet:session:{cookie.value}")
    assert raw is not None
    assert json.loads(raw)["word"] == "json"
    assert 0 < store.ttl(f"linkfleet:session:{cookie.value}") <= 14 * 86400


def test_reading_without_writing_stores_nothing(
    redis_server: RedisServer, database_config: dict[str, Any]
) -> None:
    store = redis.Redis.from_url(redis_server.url)
    before = set(store.scan_iter("linkfleet:session:*"))
    client = _replica("replica-1", redis_server, database_config).test_client()
    client.get("/healthz")
    client.get("/__recall")
    assert set(store.scan_iter("linkfleet:session:*")) == before
    assert client.get_cookie("linkfleet_session") is None


def test_redis_outage_with_a_session_cookie_is_not_a_500(
    tmp_path: Path, database_config: dict[str, Any]
) -> None:
    """Public pages still answer; pages that need Redis answer 503 with Retry-After."""
    own_redis = RedisServer(tmp_path)
    own_redis.start()
    try:
        app = _replica("replica-1", own_redis, database_config)
        client = app.test_client()
        client.post("/__remember/before-outage")
        own_redis.stop()
        landing = client.get("/")
        assert landing.status_code == 200
        assert client.get("/__recall").data == b""  # served anonymously
        ready = client.get("/readyz")
        assert ready.status_code == 503
        login = client.post("/login", data={"email": "a@b.example", "password": "x" * 12})
        assert login.status_code == 503
        assert login.headers["Retry-After"] == "5"
        own_redis.start()  # an empty Redis again (the test server keeps nothing on disk)
        client.post("/__remember/after-outage")
        assert client.get("/__recall").data == b"after-outage"
    finally:
        own_redis.stop()
