"""The invalidation listener under gevent, as the replicas run it (a greenlet, not a thread).

Monkey-patching must come before every other import, so the scenario runs in a fresh
interpreter: two replicas in one gevent process share Redis and a SQLite file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.services import RedisServer

pytestmark = pytest.mark.integration

SCENARIO = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import sys
    import time

    import gevent
    from sqlalchemy import select

    from service import create_app
    from service.accounts.models import User
    from service.extensions import db
    from service.links.cache import link_cache
    from service.links.models import Link
    from service.links.services import create_link, update_link

    redis_url, database_url = sys.argv[1], sys.argv[2]
    apps = [
        create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "REDIS_URL": redis_url,
                "REPLICA_NAME": name,
                "SQLALCHEMY_DATABASE_URI": database_url,
            }
        )
        for name in ("one", "two")
    ]
    one, two = apps
    with one.app_context():
        db.create_all()
        user = User(email="gevent@example.com", password_hash="!")
        db.session.add(user)
        db.session.commit()
        slug = create_link(user, url="https://old.example/").slug
    client = two.test_client()
    assert client.get(f"/{slug}").headers["Location"] == "https://old.example/"
    deadline = time.monotonic() + 5
    while not link_cache.listening(two):
        assert time.monotonic() < deadline, "listener never subscribed"
        gevent.sleep(0.01)
    assert monkey.is_module_patched("threading")  # so the listener "thread" is a greenlet
    gevent.sleep(0.7)  # let the creation's second invalidation pass
    assert client.get(f"/{slug}").headers["Location"] == "https://old.example/"
    with one.app_context():
        link = db.session.scalars(select(Link).filter_by(slug=slug)).one()
        update_link(link, url="https://new.example/")
    started = time.monotonic()
    while client.get(f"/{slug}").headers["Location"] != "https://new.example/":
        assert time.monotonic() - started < 1, "replica two kept the old target"
        gevent.sleep(0.01)
    for app in apps:
        app.shutdown()
    print("ok", round(time.monotonic() - started, 3))
    """
)


def test_invalidation_under_gevent(redis_server: RedisServer, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'gevent.db'}"
    result = subprocess.run(
        [sys.executable, "-c", SCENARIO, redis_server.url, database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")
