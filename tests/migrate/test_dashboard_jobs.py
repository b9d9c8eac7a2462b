"""The dashboard's Migrate page and its jobs: the form queues a job (credentials in Redis,
never in the row), the worker's :class:`JobRunner` runs it against a real HTTP peer, a job
whose worker went away is taken over where it stopped, and the page shows the progress."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from service.extensions import db
from service.extensions.types import utcnow
from service.links.models import Link
from service.migrate.jobs import CREDENTIALS_KEY, JobRunner
from service.migrate.models import DONE, QUEUED, RUNNING, STOPPED, MigrationJob
from tests.fixtures.services import RedisServer
from tests.fixtures.users import WebHelper
from tests.migrate.conftest import PeerServer
from tests.migrate.test_http_peers import kutt_item

pytestmark = pytest.mark.integration

EMAIL = "dash-mover@example.com"
KEY = "kutt-secret-key-123"


def kutt_pages(count: int) -> Any:
    items = [kutt_item(n) for n in range(1, count + 1)]

    def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        if headers.get("x-api-key") != KEY:
            return 401, {"error": "Unauthorized."}
        skip, limit = int(query["skip"]), int(query["limit"])
        return 200, {
            "total": count,
            "limit": limit,
            "skip": skip,
            "data": items[skip : skip + limit],
        }

    return answer


@pytest.fixture
def logged_in(app: Flask, web: WebHelper) -> FlaskClient:
    client = app.test_client()
    web.create_user(EMAIL)
    web.log_in(client, EMAIL)
    return client


def start(web: WebHelper, client: FlaskClient, **data: str) -> Any:
    return web.submit(client, "/dashboard/migrate", data)


def jobs(app: Flask) -> list[MigrationJob]:
    with app.app_context():
        found = list(db.session.scalars(select(MigrationJob).order_by(MigrationJob.id)))
        db.session.expunge_all()
        return found


def test_the_page_is_in_the_navigation(logged_in: FlaskClient) -> None:
    page = logged_in.get("/dashboard/migrate").get_data(as_text=True)

    assert 'href="/dashboard/migrate"' in logged_in.get("/dashboard").get_data(as_text=True)
    assert "Start the migration" in page


def test_bad_input_is_a_form_error_and_queues_nothing(
    app: Flask, web: WebHelper, logged_in: FlaskClient, peer_server: PeerServer
) -> None:
    missing = start(web, logged_in, peer="kutt", url=peer_server.url, api_key="")
    assert missing.status_code == 422
    assert "Kutt needs an API key." in missing.get_data(as_text=True)

    yourls = start(web, logged_in, peer="yourls", url=peer_server.url, username="u")
    assert yourls.status_code == 422
    assert "YOURLS needs its signature token, or a username and password." in yourls.get_data(
        as_text=True
    )

    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    inside = start(web, logged_in, peer="kutt", url="https://127.0.0.1:1/", api_key=KEY)
    assert inside.status_code == 422
    assert "a migration only fetches from public addresses" in inside.get_data(as_text=True)

    port = start(web, logged_in, peer="kutt", url="https://example.com:99999/", api_key=KEY)
    assert port.status_code == 422
    assert "is not a valid URL." in port.get_data(as_text=True)

    unknown = start(web, logged_in, peer="bitly", url="https://example.com", api_key=KEY)
    assert unknown.status_code == 422
    assert jobs(app) == []


def test_a_job_is_run_by_the_worker_and_forgets_its_credentials(
    app: Flask,
    web: WebHelper,
    logged_in: FlaskClient,
    peer_server: PeerServer,
    redis_server: RedisServer,
) -> None:
    peer_server.handler = kutt_pages(5)
    store = redis.Redis.from_url(redis_server.url)

    started = start(web, logged_in, peer="kutt", url=peer_server.url, api_key=KEY)

    assert started.status_code == 303
    (job,) = jobs(app)
    assert started.headers["Location"].endswith(f"/dashboard/migrate/{job.id}")
    assert job.status == QUEUED
    assert KEY not in json.dumps({c.name: str(getattr(job, c.name)) for c in job.__table__.c})
    assert json.loads(store.get(CREDENTIALS_KEY.format(job.id))) == {"api_key": KEY}
    assert 0 < store.ttl(CREDENTIALS_KEY.format(job.id)) <= 86400
    queued = logged_in.get(f"/dashboard/migrate/{job.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in queued

    assert JobRunner(app).run_once() is True

    (job,) = jobs(app)
    assert (job.status, job.position, job.total, job.imported) == (DONE, 5, 5, 5)
    assert store.get(CREDENTIALS_KEY.format(job.id)) is None
    with app.app_context():
        slugs = set(db.session.scalars(select(Link.slug)))
    assert slugs == {f"k{n}" for n in range(1, 6)}
    page = logged_in.get(f"/dashboard/migrate/{job.id}").get_data(as_text=True)
    assert "http-equiv" not in page
    assert "<dt>Imported</dt><dd>5</dd>" in page
    assert JobRunner(app).run_once() is False  # nothing left to run


def test_a_job_whose_worker_stopped_is_taken_over_where_it_was(
    app: Flask, web: WebHelper, logged_in: FlaskClient, peer_server: PeerServer
) -> None:
    peer_server.handler = kutt_pages(120)  # three pages of 50
    start(web, logged_in, peer="kutt", url=peer_server.url, api_key=KEY)
    stopping = JobRunner(app)
    stopping._stop.set()  # as on SIGTERM: the job goes back to the queue after this page

    assert stopping.run_once() is True

    (job,) = jobs(app)
    assert (job.status, job.position, job.imported) == (QUEUED, 50, 50)
    with app.app_context():  # a worker killed outright: its lease runs out
        db.session.execute(
            MigrationJob.__table__.update().values(
                status=RUNNING, lease_until=utcnow() - timedelta(seconds=1)
            )
        )
        db.session.commit()
    peer_server.requests.clear()

    assert JobRunner(app).run_once() is True

    (job,) = jobs(app)
    assert (job.status, job.position, job.imported, job.skipped) == (DONE, 120, 120, 0)
    assert [query["skip"] for _, query, _ in peer_server.requests] == ["50", "100"]


def test_a_running_job_under_lease_is_left_alone(
    app: Flask, web: WebHelper, logged_in: FlaskClient, peer_server: PeerServer
) -> None:
    peer_server.handler = kutt_pages(1)
    start(web, logged_in, peer="kutt", url=peer_server.url, api_key=KEY)
    with app.app_context():
        db.session.execute(
            MigrationJob.__table__.update().values(
                status=RUNNING, lease_until=utcnow() + timedelta(seconds=60)
            )
        )
        db.session.commit()

    assert JobRunner(app).run_once() is False
    assert peer_server.requests == []


def test_expired_credentials_stop_the_job_with_a_reason(
    app: Flask,
    web: WebHelper,
    logged_in: FlaskClient,
    peer_server: PeerServer,
    redis_server: RedisServer,
) -> None:
    peer_server.handler = kutt_pages(1)
    start(web, logged_in, peer="kutt", url=peer_server.url, api_key=KEY)
    (job,) = jobs(app)
    redis.Redis.from_url(redis_server.url).delete(CREDENTIALS_KEY.format(job.id))

    assert JobRunner(app).run_once() is True

    (job,) = jobs(app)
    assert job.status == STOPPED
    page = logged_in.get(f"/dashboard/migrate/{job.id}").get_data(as_text=True)
    assert "the peer&#39;s credentials expired before a worker could run the job" in page
    assert peer_server.requests == []


def test_another_accounts_job_is_not_found(
    app: Flask, web: WebHelper, logged_in: FlaskClient, peer_server: PeerServer
) -> None:
    peer_server.handler = kutt_pages(1)
    start(web, logged_in, peer="kutt", url=peer_server.url, api_key=KEY)
    (job,) = jobs(app)
    other = app.test_client()
    web.create_user("other@example.com")
    web.log_in(other, "other@example.com")

    assert other.get(f"/dashboard/migrate/{job.id}").status_code == 404
    assert "kutt.example" not in other.get("/dashboard/migrate").get_data(as_text=True)
    assert peer_server.url not in other.get("/dashboard/migrate").get_data(as_text=True)
