"""Fixtures of the analytics tests: apps that capture into a temp spool, links, the worker.

Everything is real: Redis servers, SQLite files and the PostgreSQL schema of the session.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select

from service.analytics.models import HourlyVisits, ProcessedEvent
from service.analytics.worker import Totals, Worker, WorkerSettings, redis_for_worker
from service.extensions import db
from tests.fixtures.services import POSTGRES_URL

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


def analytics_config(spool_dir: Path, **extra: Any) -> dict[str, Any]:
    """Flask config of a test app that captures clicks into ``spool_dir``, shipping fast."""
    return {
        "SECRET_KEY": "analytics-test-secret",
        "ANALYTICS_SPOOL_DIR": str(spool_dir),
        "ANALYTICS_SHIP_INTERVAL": 0.02,
        "ANALYTICS_ADOPT_INTERVAL": 0.5,
        **extra,
    }


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Every app of an analytics test captures into ``tmp_path/spool`` unless told otherwise."""
    return analytics_config(tmp_path / "spool")


def counted(app: Flask, link_id: int | None = None) -> int:
    """Visits in the hourly aggregates (of one link, or of all)."""
    with app.app_context():
        query = select(func.coalesce(func.sum(HourlyVisits.visits), 0))
        if link_id is not None:
            query = query.where(HourlyVisits.link_id == link_id)
        total = int(db.session.scalar(query) or 0)
        db.session.remove()
        return total


def processed(app: Flask) -> int:
    with app.app_context():
        total = int(db.session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)
        db.session.remove()
        return total


def make_worker(app: Flask, **settings: Any) -> Worker:
    """An in-process worker with short waits (for draining in tests)."""
    values: dict[str, Any] = {"block_ms": 50, "consumer": f"test-{uuid.uuid4().hex[:6]}"}
    values.update(settings)
    client = redis_for_worker(app.config["REDIS_URL"], values["block_ms"])
    return Worker(app, client, WorkerSettings(**values))


def drain(app: Flask, **settings: Any) -> Totals:
    worker = make_worker(app, **settings)
    try:
        return worker.drain()
    finally:
        worker.client.close()


def event(slug: str = "promo", **fields: Any) -> dict[str, Any]:
    """A click event as capture makes it (fields overridable)."""
    data: dict[str, Any] = {
        "v": 1,
        "id": uuid.uuid4().hex,
        "slug": slug,
        "ts": 1_780_000_000.0,
        "ref": "news.example",
        "br": "Chrome",
        "os": "Windows",
        "dev": "Other",
        "bot": 0,
        "cc": "",
        "ip": uuid.uuid4().hex,
    }
    data.update(fields)
    return data


def xadd_events(client: redis.Redis, events: list[dict[str, Any]], stream: str) -> None:
    pipe = client.pipeline(transaction=False)
    for item in events:
        pipe.xadd(stream, {"e": json.dumps(item)})
    pipe.execute()


def subprocess_database_url(database_config: dict[str, Any]) -> str:
    """The database of ``database_config`` as a LINKFLEET_DATABASE_URL for a subprocess."""
    uri: str = database_config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        return uri
    options = database_config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
    schema = options.split("search_path=", 1)[1]
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def worker_env(app: Flask, database_config: dict[str, Any], run_dir: Path) -> dict[str, str]:
    """The environment of a ``linkfleet worker`` subprocess on the test Redis and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKFLEET_")}
    env.update(
        LINKFLEET_REDIS_URL=app.config["REDIS_URL"],
        LINKFLEET_DATABASE_URL=subprocess_database_url(database_config),
        LINKFLEET_SECRET_KEY="analytics-test-secret",
        LINKFLEET_RUN_DIR=str(run_dir),
        LINKFLEET_LOG_LEVEL="INFO",
    )
    return env
