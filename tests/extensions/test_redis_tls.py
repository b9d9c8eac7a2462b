"""``rediss://``: the app's Redis clients (sessions, rate limits, readiness, the link cache's
listener) work against a TLS-only, password-protected ``redis-server``."""

from __future__ import annotations

import pytest
import redis

from service.accounts.models import User
from service.extensions import db
from service.links.cache import link_cache
from service.links.services import create_link
from tests.fixtures.app import AppFactory
from tests.fixtures.services import RedisServer, wait_until
from tests.fixtures.users import WebHelper

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("private_redis", ["tls"], indirect=True)
def test_the_app_runs_on_a_tls_redis(private_redis: RedisServer, make_app: AppFactory) -> None:
    server = private_redis
    app = make_app(REPLICA_NAME="replica-1", REDIS_URL=server.url)
    plain = redis.Redis(host="127.0.0.1", port=server.port, password=server.password)
    with pytest.raises(redis.ConnectionError):
        plain.ping()  # the port speaks TLS only: the checks below really went over TLS
    plain.close()

    web = WebHelper(app)
    user_id = web.create_user("tls@example.com")
    with app.app_context():
        owner = db.session.get(User, user_id)
        assert owner is not None
        slug = create_link(owner, url="https://example.com/tls").slug
    client = app.test_client()
    web.log_in(client, "tls@example.com")  # session and login rate limit in Redis
    assert client.get("/dashboard").status_code == 200
    assert client.get(f"/{slug}").headers["Location"] == "https://example.com/tls"
    assert client.get("/readyz").status_code == 200
    # The link cache's invalidation listener (pub/sub) subscribed over TLS too.
    wait_until(lambda: link_cache.listening(app), 5, "the invalidation listener subscribed")

    store = redis.Redis.from_url(server.url)
    keys = {key.decode() for key in store.scan_iter()}
    assert any(key.startswith("linkfleet:session:") for key in keys), keys
    assert any(key.startswith("LIMITS:") for key in keys), keys  # Flask-Limiter
    store.close()
