"""The worker counts every event exactly once: redelivery, replays, kill -9, database outages.

Real Redis, real SQLite and PostgreSQL (every test runs on both backends).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import String, cast, func, select
from sqlalchemy.engine import make_url

from service.analytics.aggregates import Event, parse_event, store_events
from service.analytics.extension import DEFAULT_STREAM, analytics
from service.analytics.models import (
    DailyDimension,
    DailyVisitor,
    HourlyVisits,
    OrphanHourly,
    ProcessedEvent,
)
from service.analytics.orphans import OrphanVisit, store_orphans
from service.analytics.spool import offset_path
from service.analytics.worker import DEFAULT_GROUP
from service.extensions import db
from tests.analytics.conftest import (
    ANDROID_PHONE,
    CHROME,
    FIREFOX_LINUX,
    GOOGLEBOT,
    IPHONE,
    SAFARI_MAC,
    counted,
    drain,
    event,
    make_worker,
    processed,
    worker_env,
    xadd_events,
)
from tests.analytics.faults import SqliteWriteLock, TcpProxy
from tests.fixtures.app import AppFactory
from tests.fixtures.links import make_link
from tests.fixtures.services import free_port, wait_until

pytestmark = pytest.mark.integration

LINKFLEET = str(Path(sys.executable).parent / "linkfleet")


def stream_client(app: Flask) -> redis.Redis:
    return redis.Redis.from_url(app.config["REDIS_URL"])


def pending(app: Flask) -> int:
    client = stream_client(app)
    try:
        return int(client.xpending(DEFAULT_STREAM, DEFAULT_GROUP)["pending"])
    finally:
        client.close()


def retries() -> float:
    return REGISTRY.get_sample_value("linkfleet_analytics_worker_db_retries_total") or 0.0


def test_events_delivered_twice_are_counted_once(app: Flask) -> None:
    link_id = make_link(app)
    events = [event() for _ in range(300)]
    client = stream_client(app)
    xadd_events(client, events, DEFAULT_STREAM)
    xadd_events(client, events[:200], DEFAULT_STREAM)  # a replay of the first 200
    totals = drain(app, batch_size=128)
    assert (totals.counted, totals.duplicates) == (300, 200)
    xadd_events(client, events[100:150], DEFAULT_STREAM)  # a late replay, batches later
    assert drain(app).duplicates == 50
    assert counted(app, link_id) == 300
    assert processed(app) == 300
    assert pending(app) == 0
    client.close()


def test_pending_entries_of_a_dead_consumer_are_claimed_and_counted_once(app: Flask) -> None:
    link_id = make_link(app)
    client = stream_client(app)
    xadd_events(client, [event() for _ in range(40)], DEFAULT_STREAM)
    worker = make_worker(app, batch_size=20)
    with app.app_context():
        worker.ensure_group()
        # Consumer "dead-1" read 20 entries and died before committing them ...
        client.xreadgroup(DEFAULT_GROUP, "dead-1", {DEFAULT_STREAM: ">"}, count=20)
        # ... "dead-2" read the other 20, committed them and died before its XACK.
        entries = client.xreadgroup(DEFAULT_GROUP, "dead-2", {DEFAULT_STREAM: ">"}, count=20)
        parsed = [parse_event(fields[b"e"]) for _, fields in entries[0][1]]
        with db.engine.begin() as connection:
            store_events(connection, [e for e in parsed if e is not None], time.time())
    assert counted(app, link_id) == 20
    assert pending(app) == 40
    time.sleep(0.2)
    totals = drain(app, claim_idle_ms=100)
    assert (totals.counted, totals.duplicates) == (20, 20)
    assert counted(app, link_id) == 40
    assert pending(app) == 0
    worker.client.close()
    client.close()


def test_own_pending_entries_are_reread_after_a_restart(app: Flask) -> None:
    """A worker restarted under the same consumer name (a container) re-reads from id 0."""
    link_id = make_link(app)
    client = stream_client(app)
    xadd_events(client, [event() for _ in range(10)], DEFAULT_STREAM)
    with app.app_context():
        make_worker(app).ensure_group()
    client.xreadgroup(DEFAULT_GROUP, "worker-a", {DEFAULT_STREAM: ">"}, count=10)
    totals = drain(app, consumer="worker-a", claim_idle_ms=3_600_000)
    assert totals.counted == 10
    assert counted(app, link_id) == 10
    assert pending(app) == 0
    client.close()


def test_clicks_are_aggregated_by_hour_day_and_dimension(app: Flask) -> None:
    link_id = make_link(app)
    other_id = make_link(app, "other")
    at = datetime(2026, 5, 28, 10, 30, tzinfo=UTC).timestamp()
    events = [
        event(ts=at, ref="news.example", br="Chrome", ip="a" * 32),
        event(ts=at + 60, ref="news.example", br="Chrome", ip="a" * 32),  # same visitor
        event(ts=at + 3600, ref="", br="Firefox", ip="b" * 32, cc="DE"),
        event(ts=at + 7200, ref="", br="Googlebot", bot=1, ip="c" * 32),
        event(ts=at + 86400, ref="mail.example", br="Chrome", ip="d" * 32),
        event("other", ts=at),
        event("gone", ts=at),  # a link deleted since: dropped
        {"not": "an event"},
    ]
    client = stream_client(app)
    xadd_events(client, events, DEFAULT_STREAM)
    client.xadd(DEFAULT_STREAM, {"junk": b"\xff"})
    totals = drain(app)
    assert (totals.counted, totals.orphans, totals.invalid) == (6, 1, 2)
    assert pending(app) == 0
    with app.app_context():
        hourly = db.session.execute(
            select(HourlyVisits.hour, HourlyVisits.visits, HourlyVisits.bot_visits)
            .where(HourlyVisits.link_id == link_id)
            .order_by(HourlyVisits.hour)
        ).all()
        assert [(h.hour, v, b) for h, v, b in hourly] == [
            (10, 2, 0),
            (11, 1, 0),
            (12, 1, 1),
            (10, 1, 0),
        ]
        referrers = dict(
            db.session.execute(
                select(DailyDimension.value, DailyDimension.visits).where(
                    DailyDimension.link_id == link_id,
                    DailyDimension.dimension == "referrer",
                    DailyDimension.day == date(2026, 5, 28),
                )
            ).all()
        )
        assert referrers == {"news.example": 2, "": 2}
        visitors = db.session.scalar(
            select(func.count())
            .select_from(DailyVisitor)
            .where(DailyVisitor.link_id == link_id, DailyVisitor.day == date(2026, 5, 28))
        )
        assert visitors == 2  # "a" twice counts once; the bot is not a visitor
        assert counted(app, other_id) == 1


def test_the_worker_stores_hours_and_days_as_the_orm_does(app: Flask) -> None:
    """Each hour and day column holds one text for one moment, whoever wrote the row: the
    worker's hand-written SQL or the ORM (on SQLite both are text, compared as text)."""
    make_link(app)
    orm_id = make_link(app, "orm")
    moment = datetime(2026, 5, 28, 20, 30, tzinfo=UTC)
    hour, day = moment.replace(minute=0), moment.date()
    with app.app_context():
        with db.engine.begin() as connection:
            clicks = [Event("e" * 16, "promo", moment.timestamp(), ip="a" * 32)]
            assert store_events(connection, clicks, time.time()).counted == 1
            assert store_orphans(connection, [OrphanVisit("regular_404", moment.timestamp())]) == 1
        db.session.add_all(
            [
                HourlyVisits(link_id=orm_id, hour=hour, visits=1, bot_visits=0),
                DailyDimension(
                    link_id=orm_id, dimension="os", day=day, value="", visits=1, bot_visits=0
                ),
                DailyVisitor(link_id=orm_id, day=day, visitor="b" * 32),
                OrphanHourly(
                    hour=hour,
                    type="invalid_short_url",
                    host="",
                    referrer_host="",
                    visits=1,
                    bot_visits=0,
                ),
            ]
        )
        db.session.commit()
        for column in (HourlyVisits.hour, DailyDimension.day, DailyVisitor.day, OrphanHourly.hour):
            texts = db.session.scalars(select(cast(column, String)).distinct()).all()
            assert len(texts) == 1, (column, texts)
        # The ORM's own lookups find the worker's rows.
        assert (
            db.session.scalar(
                select(func.sum(HourlyVisits.visits)).where(HourlyVisits.hour == hour)
            )
            == 2
        )
        assert (
            db.session.scalar(
                select(func.count()).select_from(DailyVisitor).where(DailyVisitor.day == day)
            )
            == 2
        )
        assert (
            db.session.scalar(
                select(func.sum(OrphanHourly.visits)).where(OrphanHourly.hour == hour)
            )
            == 2
        )
        db.session.remove()


def test_desktop_browsers_are_counted_as_desktop_devices(app: Flask) -> None:
    """Real clicks, captured, shipped and counted: the device dimension says "Desktop" for
    the desktop browsers, names the phones, and keeps the bot's "Spider"."""
    link_id = make_link(app)
    client = app.test_client()
    agents = [CHROME, SAFARI_MAC, FIREFOX_LINUX, IPHONE, ANDROID_PHONE, GOOGLEBOT]
    for agent in agents:
        assert client.get("/promo", headers={"User-Agent": agent}).status_code == 302
    shipper = analytics.shipper(app)
    assert shipper is not None
    wait_until(lambda: shipper.shipped == len(agents), 10, "the shipper did not ship the clicks")
    assert drain(app).counted == len(agents)
    with app.app_context():
        devices = db.session.execute(
            select(DailyDimension.value, DailyDimension.visits, DailyDimension.bot_visits).where(
                DailyDimension.link_id == link_id, DailyDimension.dimension == "device"
            )
        ).all()
        db.session.remove()
    assert sorted(tuple(row) for row in devices) == [
        ("Desktop", 3, 0),
        ("Samsung SM-S911B", 1, 0),
        ("Spider", 1, 1),
        ("iPhone", 1, 0),
    ]


def test_the_spool_replayed_after_a_crash_is_counted_once(app: Flask, make_app: AppFactory) -> None:
    """Clicks captured through the app, shipped, then shipped again from the start of the
    file (as after a crash before the offset was saved): every click counts once."""
    link_id = make_link(app)
    client = app.test_client()
    for number in range(120):
        response = client.get(
            "/promo",
            headers={"User-Agent": CHROME if number % 4 else GOOGLEBOT},
            environ_base={"REMOTE_ADDR": f"198.51.100.{number % 9}"},
        )
        assert response.status_code == 302
    shipper = analytics.shipper(app)
    assert shipper is not None
    assert shipper.cursor is not None
    wait_until(lambda: shipper.shipped == 120, 10, "the shipper did not ship the clicks")
    path = shipper.cursor.path
    analytics.shutdown(app, flush=False)  # the process "dies" ...
    offset_path(path).write_text("0\n")  # ... before its offset reached the disk
    heir = make_app()  # the next process of the replica: same spool directory
    heir_client = heir.test_client()
    assert heir_client.get("/promo", headers={"User-Agent": CHROME}).status_code == 302
    wait_until(lambda: not path.exists(), 10, "the heir did not ship the dead spool")
    heir_shipper = analytics.shipper(heir)
    assert heir_shipper is not None
    wait_until(lambda: heir_shipper.shipped == 121, 10, "the heir did not ship everything")
    totals = drain(app)
    assert totals.counted == 121
    assert totals.duplicates == 120
    assert counted(app, link_id) == 121
    with app.app_context():
        bots = db.session.scalar(select(func.sum(HourlyVisits.bot_visits)))
    assert bots == 30


def test_old_processed_ids_are_purged(app: Flask) -> None:
    make_link(app)
    client = stream_client(app)
    xadd_events(client, [event() for _ in range(5)], DEFAULT_STREAM)
    drain(app)
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(ProcessedEvent.__table__.update().values(processed_at=1000))
        worker = make_worker(app, retention_days=7)
        worker.purge()
        worker.client.close()
    assert processed(app) == 0
    assert counted(app) == 5  # the aggregates stay
    client.close()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                LINKFLEET,
                "worker",
                "--batch-size",
                "50",
                "--block-ms",
                "100",
                "--claim-idle-ms",
                "500",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_kill_9_of_the_worker_mid_stream_loses_and_doubles_nothing(
    app: Flask, database_config: dict[str, Any], tmp_path: Path
) -> None:
    link_id = make_link(app)
    total = 8000
    client = stream_client(app)
    xadd_events(client, [event() for _ in range(total)], DEFAULT_STREAM)
    env = worker_env(app, database_config, tmp_path / "run")
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    try:
        wait_until(lambda: processed(app) >= 300, 60, f"the worker counted nothing: {log}")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = processed(app)
        assert at_kill < total, "the worker finished before it was killed"
        second = start_worker(env, log)
        try:
            wait_until(
                lambda: counted(app, link_id) >= total and pending(app) == 0,
                60,
                f"the restarted worker did not finish: {log.read_text()[-2000:]}",
            )
            second.send_signal(signal.SIGTERM)  # graceful: finishes its batch and exits 0
            assert second.wait(60) == 0
        finally:
            if second.poll() is None:
                second.kill()
                second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert counted(app, link_id) == total
    assert processed(app) == total
    assert pending(app) == 0
    client.close()


def _database_fault(app: Flask, make_app: AppFactory, database_config: dict[str, Any]) -> Any:
    """(the app the worker should use, take the database down, bring it back)."""
    uri = database_config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        lock = SqliteWriteLock(Path(make_url(uri).database or ""))
        return app, lock.take, lock.release
    url = make_url(uri)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    worker_app = make_app(
        SQLALCHEMY_DATABASE_URI=proxied,
        SQLALCHEMY_ENGINE_OPTIONS={
            **database_config["SQLALCHEMY_ENGINE_OPTIONS"],
            "pool_pre_ping": True,
        },
    )
    return worker_app, proxy.cut, proxy.restore


def test_database_down_during_a_batch_is_retried_until_it_returns(
    app: Flask, make_app: AppFactory, database_config: dict[str, Any]
) -> None:
    link_id = make_link(app)
    worker_app, take_down, bring_back = _database_fault(app, make_app, database_config)
    worker = make_worker(worker_app, batch_size=100, max_backoff=1.0)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    client = stream_client(app)
    try:
        xadd_events(client, [event() for _ in range(300)], DEFAULT_STREAM)
        wait_until(lambda: counted(app, link_id) == 300, 30, "the healthy worker did not count")
        before = retries()
        take_down()
        xadd_events(client, [event() for _ in range(300)], DEFAULT_STREAM)
        wait_until(lambda: retries() > before, 30, "the worker never hit the outage")
        time.sleep(1.0)
        assert counted(app, link_id) == 300  # the failed batch left nothing behind
        assert pending(app) > 0  # and was not acked
        bring_back()
        wait_until(
            lambda: counted(app, link_id) == 600 and pending(app) == 0,
            30,
            "the batch was not retried after the database came back",
        )
    finally:
        worker.stop()
        runner.join(30)
        worker.client.close()
        client.close()
    assert not runner.is_alive()
    assert counted(app, link_id) == 600
    assert processed(app) == 600


def test_worker_command_is_registered(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--help"])
    assert result.exit_code == 0
    assert "consumer group" in result.output


def test_stream_entries_are_json_events(app: Flask) -> None:
    """What the shipper writes is what the worker reads (one ``e`` field, JSON)."""
    make_link(app)
    response = app.test_client().get("/promo", headers={"User-Agent": CHROME})
    assert response.status_code == 302
    client = stream_client(app)
    wait_until(lambda: client.xlen(DEFAULT_STREAM) == 1, 10, "nothing shipped")
    ((_, fields),) = client.xrange(DEFAULT_STREAM)
    assert set(fields) == {b"e"}
    data = json.loads(fields[b"e"])
    assert data["slug"] == "promo"
    assert data["br"] == "Chrome"
    assert os.fspath(app.config["ANALYTICS_SPOOL_DIR"])
    client.close()


def test_a_broken_spool_never_breaks_the_redirect(make_app: AppFactory, tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the spool directory should be")
    app = make_app(ANALYTICS_SPOOL_DIR=str(tmp_path / "blocked/spool"))
    make_link(app)
    errors = REGISTRY.get_sample_value("linkfleet_analytics_capture_errors_total") or 0.0
    response = app.test_client().get("/promo", headers={"User-Agent": CHROME})
    assert response.status_code == 302
    after = REGISTRY.get_sample_value("linkfleet_analytics_capture_errors_total") or 0.0
    assert after == errors + 1


def test_worker_serves_its_lag_and_throughput_as_metrics(
    app: Flask, database_config: dict[str, Any], tmp_path: Path
) -> None:
    make_link(app)
    client = stream_client(app)
    xadd_events(client, [event() for _ in range(20)], DEFAULT_STREAM)
    port = free_port()
    env = worker_env(app, database_config, tmp_path / "run")
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [LINKFLEET, "worker", "--block-ms", "100", "--metrics-port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def metrics() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
                return str(answer.read().decode())
        except OSError:
            return ""

    try:
        wait_until(lambda: counted(app) == 20, 30, f"the worker did not count: {log}")
        # Below the request path by default (--nice 10, a batch task): see yield_cpu.
        assert (
            os.getpriority(os.PRIO_PROCESS, worker.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 10
        )
        assert os.sched_getscheduler(worker.pid) == os.SCHED_BATCH
        wait_until(lambda: "linkfleet_analytics_stream_lag 0.0" in metrics(), 30, "no lag metric")
        text = metrics()
        assert "linkfleet_analytics_stream_pending 0.0" in text
        assert 'linkfleet_analytics_worker_events_total{outcome="counted"} 20.0' in text
        assert "linkfleet_analytics_worker_events_per_second" in text
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0  # niced and SCHED_BATCH: slow to get a CPU on a busy machine
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
        client.close()
