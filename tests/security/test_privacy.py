"""Privacy as docs/PRIVACY.md states it: the visitor-hash salt is random per day, shared, and
gone after its TTL; no raw client address in Redis or the app's logs; a client cannot set
its country; nginx's logs are rotated with a bounded retention."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from pathlib import Path

import pytest
import redis
from flask import Flask

from service.analytics.capture import CaptureSettings, build_event, visitor_hash
from service.analytics.salt import SALT_KEY, DailySalts
from service.extensions import json_logging
from service.fleet.privacy import Retention, Rotator, rotate
from tests.fixtures.replicas import ReplicaFactory
from tests.fixtures.services import RedisServer, free_port

DAY = 86400
NOW = 1_780_000_000.0
TODAY = int(NOW // DAY)
ADDRESS = "192.0.2.77"


def salts_of(app: Flask) -> DailySalts:
    return CaptureSettings.from_config(app.config).salts


def test_every_replica_uses_the_same_random_salt_whatever_its_secret_key(
    app: Flask, replica_factory: ReplicaFactory
) -> None:
    other = replica_factory("replica-2", SECRET_KEY="a different secret")
    one, two = salts_of(app), salts_of(other)
    assert one.get(TODAY) == two.get(TODAY)
    assert visitor_hash(one, ADDRESS, NOW) == visitor_hash(two, ADDRESS, NOW) != ""
    assert one.get(TODAY) != one.get(TODAY + 1)  # another day, another salt
    assert visitor_hash(one, ADDRESS, NOW) != visitor_hash(one, ADDRESS, NOW + DAY)


def test_clicks_arriving_together_fetch_the_salt_once(
    app: Flask, redis_server: RedisServer
) -> None:
    """Twenty clicks at the start of a day ask Redis once (one connection, one round trip)."""
    salts = salts_of(app)
    raw = redis.Redis.from_url(redis_server.url)
    raw.config_resetstat()
    results: list[bytes | None] = []
    threads = [threading.Thread(target=lambda: results.append(salts.get(TODAY))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert results[0] is not None
    assert raw.info("commandstats")["cmdstat_set"]["calls"] == 1


def test_the_salt_lives_two_days_in_redis(app: Flask, redis_server: RedisServer) -> None:
    salts_of(app).get(TODAY)
    ttl = redis.Redis.from_url(redis_server.url).ttl(SALT_KEY.format(day=TODAY))
    assert 2 * DAY - 60 < ttl <= 2 * DAY


def test_once_the_salt_expired_no_one_can_recompute_a_hash(
    replica_factory: ReplicaFactory, redis_server: RedisServer
) -> None:
    app = replica_factory("short-lived", ANALYTICS_SALT_TTL=1)
    before = visitor_hash(salts_of(app), ADDRESS, NOW)
    raw = redis.Redis.from_url(redis_server.url)
    time.sleep(1.5)
    assert raw.exists(SALT_KEY.format(day=TODAY)) == 0
    # A process starting now (or an operator holding every secret) gets a new salt.
    assert visitor_hash(salts_of(app), ADDRESS, NOW) != before


def test_without_redis_there_is_no_visitor_hash_never_a_local_salt() -> None:
    salts = DailySalts(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.2, retry=60)
    assert salts.get(TODAY) is None
    assert visitor_hash(salts, ADDRESS, NOW) == ""


def test_a_client_cannot_set_its_country_or_address(app: Flask) -> None:
    app.config["ANALYTICS_COUNTRY_HEADER"] = "CF-IPCountry"
    settings = CaptureSettings.from_config(app.config)
    forged = {"CF-IPCountry": "DE", "X-Forwarded-For": "198.51.100.1"}
    with app.test_request_context("/x", headers=forged, environ_base={"REMOTE_ADDR": ADDRESS}):
        from flask import request

        event = build_event(request, "x", settings, now=NOW)
    assert event["cc"] == ""
    assert event["ip"] == visitor_hash(settings.salts, ADDRESS, NOW)
    proxied = {"CF-IPCountry": "DE", "X-Forwarded-For": ADDRESS}
    with app.test_request_context("/x", headers=proxied, environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        from flask import request

        event = build_event(request, "x", settings, now=NOW)
    assert event["cc"] == "DE"  # our proxy on loopback is believed
    assert event["ip"] == visitor_hash(settings.salts, ADDRESS, NOW)


def test_rate_limit_keys_and_app_logs_hold_no_client_address(
    app: Flask, redis_server: RedisServer
) -> None:
    stream = io.StringIO()
    handler: logging.Handler = app.extensions[json_logging.extension_name]
    handler.setStream(stream)  # type: ignore[attr-defined]
    app.logger.setLevel(logging.DEBUG)
    client = app.test_client()
    environ = {"REMOTE_ADDR": ADDRESS}
    for number in range(40):
        client.get(f"/made-up-{number}", environ_base=environ)
    for number in range(12):
        client.get(
            "/api/v1/links",
            headers={"Authorization": f"Bearer lf_g{number:07d}_{'x' * 43}"},
            environ_base=environ,
        )
    for _ in range(12):
        client.post(
            "/login", data={"email": "a@example.com", "password": "x"}, environ_base=environ
        )
    raw = redis.Redis.from_url(redis_server.url)
    keys = [key.decode() for key in raw.scan_iter(count=1000)]
    assert any(key.startswith("linkfleet:failures:") for key in keys)
    assert all(ADDRESS not in key for key in keys)
    for key in keys:
        if raw.type(key) == b"string":
            assert ADDRESS.encode() not in (raw.get(key) or b"")
    assert ADDRESS not in stream.getvalue()


def test_rotation_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    log = tmp_path / "nginx-access.log"
    for generation in range(5):
        log.write_text(f"generation {generation}\n")
        rotate(log, keep=3)
        assert log.exists()
        assert log.stat().st_size == 0  # truncated in place: nginx keeps writing to it
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "nginx-access.log",
        "nginx-access.log.1",
        "nginx-access.log.2",
        "nginx-access.log.3",
    ]
    assert (tmp_path / "nginx-access.log.1").read_text() == "generation 4\n"
    assert (tmp_path / "nginx-access.log.3").read_text() == "generation 2\n"


def test_logs_rotate_daily_or_at_a_size_and_older_files_go(tmp_path: Path) -> None:
    log = tmp_path / "nginx-access.log"
    log.write_text("old\n")
    for number in range(1, 12):  # left over from a longer retention
        (tmp_path / f"nginx-access.log.{number}").write_text("older\n")
    rotator = Rotator(tmp_path, Retention(every=DAY, max_bytes=100, keep=2))
    start = time.time()
    assert rotator.run_once(now=start) == []  # neither a day old nor large
    assert sorted(os.listdir(tmp_path)) == [
        "nginx-access.log",
        "nginx-access.log.1",
        "nginx-access.log.2",
    ]
    assert rotator.run_once(now=start + DAY + 1) == [log]
    assert (tmp_path / "nginx-access.log.1").read_text() == "old\n"
    log.write_text("x" * 100)
    assert rotator.run_once(now=start + DAY + 2) == [log]  # at the size, whatever the age
    assert rotator.run_once(now=start + DAY + 3) == []  # empty: nothing to rotate


@pytest.mark.parametrize("keep", [0, 1])
def test_keeping_nothing_or_one_file(tmp_path: Path, keep: int) -> None:
    log = tmp_path / "nginx-error.log"
    for generation in range(3):
        log.write_text(f"{generation}\n")
        rotate(log, keep=keep)
    assert len(list(tmp_path.iterdir())) == 1 + keep
