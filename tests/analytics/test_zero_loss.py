"""Zero click loss through a stopped worker, Redis outages, graceful stops, nginx retries,
renames and slug reuse - on real Redis and both databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import event, select

from service.accounts.models import User
from service.analytics.extension import analytics
from service.extensions import db
from service.links.models import Link
from service.links.services import create_link, delete_link, update_link
from tests.analytics.conftest import counted, drain, make_worker, processed, worker_env
from tests.fixtures.app import AppFactory
from tests.fixtures.links import make_link
from tests.fixtures.services import free_port, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STREAM = "linkfleet:clicks"


def click(app: Flask, slug: str, times: int = 1, **kwargs: Any) -> None:
    client = app.test_client()
    for _ in range(times):
        assert client.get(f"/{slug}", **kwargs).status_code == 302


def shipped_all(app: Flask) -> bool:
    """Everything this app's process spooled has been shipped."""
    shipper = analytics.shipper(app)
    return shipper is not None and shipper.cursor is not None and not shipper.cursor.pending_bytes()


def test_a_stopped_worker_loses_nothing_beyond_the_stream_cap(make_app: AppFactory) -> None:
    """Cap 40, worker stopped (its group exists), 5x the cap of clicks: the shippers hold
    them back in the spool; once the worker runs again every click is counted once."""
    app = make_app(ANALYTICS_STREAM_MAXLEN=40, ANALYTICS_SHIP_BATCH=20)
    link_id = make_link(app, "capped")
    make_worker(app).drain()  # the worker ran once: its group exists, then it stopped
    raw = redis.Redis.from_url(app.config["REDIS_URL"])
    click(app, "capped", 200)
    wait_until(lambda: raw.xlen(STREAM) >= 40, 10, "the shipper did not fill the stream")
    time.sleep(1)  # the shipper keeps trying while the stream is full
    assert raw.xlen(STREAM) <= 40 + 20  # never more than one batch over the cap
    assert not shipped_all(app)  # the rest waits in the spool
    worker = make_worker(app)

    def all_counted() -> bool:
        worker.drain()
        return counted(app, link_id) >= 200

    wait_until(all_counted, 90, "clicks held back by a full stream were not all counted")
    assert counted(app, link_id) == 200
    assert processed(app) == 200
    worker.client.close()


def test_the_spool_is_synced_while_redis_is_down(make_app: AppFactory) -> None:
    app = make_app(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nobody listens there
        ANALYTICS_SYNC_INTERVAL=0.1,
        REDIS_SOCKET_TIMEOUT=0.2,
    )
    client = app.test_client()
    client.get("/healthz")  # starts the shipper, which fails to reach Redis from now on
    shipper = analytics.shipper(app)
    assert shipper is not None
    assert shipper.writer is not None
    for _ in range(3):
        before = shipper.writer.size()
        state = analytics.state_of(app)
        assert state is not None
        state.append(b'{"v":1,"id":"00000000000000000000000000000001"}\n')
        assert shipper.writer.size() > before
        wait_until(
            lambda: shipper.synced_size == shipper.writer.size(),
            10,
            "the spool was not fdatasync'ed during the outage",
        )
    assert shipper.shipped == 0


def test_a_request_retried_by_nginx_is_one_click(make_app: AppFactory, tmp_path: Path) -> None:
    """The same request (same trusted X-Request-ID) spooled by two replicas counts once;
    the same header from a client that is not our proxy proves nothing."""
    first = make_app(ANALYTICS_SPOOL_DIR=str(tmp_path / "replica-1"))
    second = make_app(ANALYTICS_SPOOL_DIR=str(tmp_path / "replica-2"))
    link_id = make_link(first, "retried")
    retried = {"X-Request-ID": "0123456789abcdef0123456789abcdef"}
    click(first, "retried", headers=retried)
    click(second, "retried", headers=retried)  # nginx's retry after replica-1 stalled
    outsider = {"REMOTE_ADDR": "203.0.113.9"}
    click(first, "retried", 2, headers=retried, environ_base=outsider)
    wait_until(lambda: shipped_all(first) and shipped_all(second), 10, "not shipped")
    totals = drain(first)
    assert counted(first, link_id) == 3
    assert totals.duplicates == 1


def test_clicks_before_and_after_a_rename_land_on_the_same_link(make_app: AppFactory) -> None:
    app = make_app()
    link_id = make_link(app, "before")
    click(app, "before", 3)
    with app.app_context():
        link = db.session.get(Link, link_id)
        assert link is not None
        update_link(link, slug="after")
    click(app, "after", 2)
    wait_until(lambda: shipped_all(app), 10, "not shipped")
    drain(app)
    assert counted(app, link_id) == 5
    assert counted(app) == 5


def test_a_new_link_reusing_a_deleted_slug_starts_at_zero_clicks(make_app: AppFactory) -> None:
    """Clicks of the deleted link still in flight never count for the new one - also on
    SQLite, where the new link may even get the deleted link's id."""
    app = make_app()
    old_id = make_link(app, "reused", owner="reuser@example.com")
    click(app, "reused", 4)
    wait_until(lambda: shipped_all(app), 10, "not shipped")
    with app.app_context():
        old = db.session.get(Link, old_id)
        assert old is not None
        delete_link(old)
        owner = db.session.scalar(select(User).where(User.email == "reuser@example.com"))
        assert owner is not None
        time.sleep(0.01)
        new_id = create_link(owner, url="https://example.org/new", slug="reused").id
    click(app, "reused")
    wait_until(lambda: shipped_all(app), 10, "not shipped")
    totals = drain(app)
    assert counted(app, new_id) == 1
    assert counted(app) == 1
    assert totals.orphans == 4


def test_the_worker_commits_durably_on_sqlite(
    make_app: AppFactory, database_config: dict[str, Any]
) -> None:
    """Asked on the very connection of each of the worker's writes to the analytics tables
    (any other pooled connection may keep the app's setting)."""
    app = make_app()
    make_link(app, "durable")
    click(app, "durable")
    wait_until(lambda: shipped_all(app), 10, "not shipped")
    settings: list[object] = []

    def ask(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")) and (
            "analytics_" in statement
        ):
            probe = cursor.connection.cursor()
            if database_config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
                probe.execute("PRAGMA synchronous")
            else:
                probe.execute("SHOW synchronous_commit")
            settings.append(probe.fetchone()[0])
            probe.close()

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", ask)
    try:
        drain(app)
    finally:
        event.remove(engine, "before_cursor_execute", ask)
    assert settings
    if database_config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert set(settings) == {2}  # FULL: the WAL is synced at every commit, before the ack
    else:
        assert set(settings) == {"on"}


def test_sigterm_of_a_gunicorn_replica_ships_its_spool(
    make_app: AppFactory, database_config: dict[str, Any], tmp_path: Path
) -> None:
    """A real gunicorn replica that would not ship for a minute gets SIGTERM and is never
    started again. Like nginx, the client keeps an idle keep-alive connection open, so
    gunicorn waits out its graceful timeout and is killed before ``worker_exit`` runs:
    the shipper, hurried by SIGTERM, has shipped every spooled click by then."""
    app = make_app()
    link_id = make_link(app, "graceful")
    raw = redis.Redis.from_url(app.config["REDIS_URL"])
    spool = tmp_path / "gunicorn-spool"
    env = worker_env(app, database_config, tmp_path / "run")
    env.update(
        LINKFLEET_ANALYTICS_SPOOL_DIR=str(spool),
        LINKFLEET_ANALYTICS_SHIP_INTERVAL_MS="60000",
        LINKFLEET_REPLICA_NAME="graceful-replica",
        LINKFLEET_GRACEFUL_TIMEOUT="3",
    )
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"]
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [*command, "-b", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        with requests.Session() as session:

            def up() -> bool:
                try:
                    return session.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
                except requests.RequestException:
                    return False

            wait_until(up, 30, "gunicorn did not start")
            time.sleep(0.5)  # the shipper's first pass is done; the next is a minute away
            for _ in range(50):
                response = session.get(
                    f"http://127.0.0.1:{port}/graceful", allow_redirects=False, timeout=5
                )
                assert response.status_code == 302
            time.sleep(0.5)
            assert raw.xlen(STREAM) == 0  # nothing shipped yet: all 50 are in the spool
            server.send_signal(signal.SIGTERM)  # the session's connection stays open, idle
            server.wait(30)
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(5)
    log = log_path.read_text()
    assert raw.xlen(STREAM) == 50, log
    for path in spool.glob("clicks-*.jsonl"):  # left by the killed worker: fully shipped
        assert int(path.with_suffix(".offset").read_text()) == path.stat().st_size
    drain(app)
    assert counted(app, link_id) == 50
