"""Analytics worker throughput: how many click events per second `linkfleet worker` counts.

Fills a Redis Stream with N realistic events (as the replicas' shippers write them: clicks on
10,000 links with Zipf-distributed popularity as in the Locust load, 20 referrers, a mix of
browsers/OS/devices/countries, 5% bots, 20,000 visitors, within the last hour), then times one
worker draining the stream into a fresh database, and checks that every event was counted
exactly once. Prints the figure (and a JSON line with --json).

By default it runs on its own: a private redis-server on a free port and a SQLite file in a
temp dir; --database-url postgresql://... uses a temporary schema in that database instead.
It also reports what the events cost that Redis, in events per Redis CPU-second.

    .venv/bin/python loadtests/worker_bench.py --events 100000
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.capacity import RedisCapacity, redis_capacity, redis_counters
from service import create_app
from service.analytics.models import HourlyVisits
from service.analytics.worker import Worker, WorkerSettings, redis_for_worker
from service.config import normalise_database_url
from service.extensions import db
from service.extensions.types import utcnow
from service.models import Link, User
from tests.fixtures.services import RedisServer

REFERRERS = ["", "google.com", "news.ycombinator.com", "t.co", "facebook.com", "reddit.com"] + [
    f"blog{n}.example" for n in range(14)
]
AGENTS = [
    ("Chrome", "Windows", "Other"),
    ("Chrome Mobile", "Android", "Samsung SM-S911B"),
    ("Mobile Safari", "iOS", "iPhone"),
    ("Firefox", "Ubuntu", "Other"),
    ("Safari", "Mac OS X", "Mac"),
    ("Edge", "Windows", "Other"),
]
COUNTRIES = ["", "US", "DE", "FR", "GB", "IN", "BR", "JP"]


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A throwaway ``redis-server``, password-protected: the test suite's, started here."""
    server = RedisServer(workdir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def database(url: str | None, workdir: Path) -> Iterator[dict[str, Any]]:
    """Flask config of a fresh database: a SQLite file, or a temporary PostgreSQL schema."""
    if not url:
        yield {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}"}
        return
    uri = normalise_database_url(url)
    schema = f"linkfleet_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(uri)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {
            "SQLALCHEMY_DATABASE_URI": uri,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
        }
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    """Cumulative weights: rank k is drawn in proportion to 1/k**s (as the Locust users)."""
    return list(itertools.accumulate(1.0 / rank**exponent for rank in range(1, count + 1)))


def make_events(count: int, slugs: list[str], rng: random.Random) -> Iterator[bytes]:
    now = time.time()
    visitors = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(20_000)]
    link_weights = zipf_weights(len(slugs))
    referrer_weights = zipf_weights(len(REFERRERS))
    for _ in range(count):
        bot = rng.random() < 0.05
        browser, system, device = ("Googlebot", "Other", "Spider") if bot else rng.choice(AGENTS)
        yield json.dumps(
            {
                "v": 1,
                "id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "slug": rng.choices(slugs, cum_weights=link_weights)[0],
                "ts": round(now - rng.random() * 3600, 3),
                "ref": rng.choices(REFERRERS, cum_weights=referrer_weights)[0],
                "br": browser,
                "os": system,
                "dev": device,
                "bot": int(bot),
                "cc": rng.choice(COUNTRIES),
                "ip": "" if rng.random() < 0.1 else rng.choice(visitors),
            },
            separators=(",", ":"),
        ).encode()


def bench(
    events: int, links: int, batch_size: int, redis_url: str, db_config: dict[str, Any]
) -> dict[str, Any]:
    stream = f"linkfleet:bench:{uuid.uuid4().hex[:8]}"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            "ANALYTICS_STREAM": stream,
            **db_config,
        }
    )
    with app.app_context():
        db.create_all()
        user = User(email="bench@example.com", password_hash="!no-login")  # noqa: S106
        db.session.add(user)
        db.session.commit()
        now = utcnow()
        slugs = [f"bench{n}" for n in range(links)]
        db.session.execute(
            insert(Link),
            [
                {
                    "slug": slug,
                    "url": "https://example.org/",
                    "title": "",
                    "redirect_type": 302,
                    "disabled": False,
                    "owner_id": user.id,
                    "created_at": now,
                    "updated_at": now,
                }
                for slug in slugs
            ],
        )
        db.session.commit()
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for number, line in enumerate(make_events(events, slugs, random.Random(7)), 1):
        pipe.xadd(stream, {"e": line})
        if number % 2000 == 0:
            pipe.execute()
    pipe.execute()
    worker = Worker(
        app,
        redis_for_worker(redis_url, 100),
        WorkerSettings(stream=stream, batch_size=batch_size, block_ms=100, claim_interval=3600),
    )
    started = time.perf_counter()
    totals = worker.drain(idle_steps=1)
    elapsed = time.perf_counter() - started
    with app.app_context():
        counted = db.session.scalar(select(func.sum(HourlyVisits.visits))) or 0
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    client.delete(stream)
    client.close()
    worker.client.close()
    if totals.counted != events or counted != events:
        raise SystemExit(f"counted {totals.counted} (aggregates: {counted}) of {events} events")
    return {
        "events": events,
        "seconds": round(elapsed, 3),
        "events_per_second": round(events / elapsed),
        "batch_size": batch_size,
        "links": links,
        "database": app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0],
    }


def measure(
    events: int, links: int, batch_size: int, database_url: str | None = None
) -> tuple[dict[str, Any], RedisCapacity]:
    """The worker benchmark on a private Redis, with what the events cost that Redis."""
    with tempfile.TemporaryDirectory(prefix="linkfleet-worker-bench-") as tmp:
        workdir = Path(tmp)
        with database(database_url, workdir) as db_config, private_redis(workdir) as url:
            before = redis_counters(url)
            result = bench(events, links, batch_size, url, db_config)
            return result, redis_capacity(events, before, redis_counters(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events to drain (50,000)")
    parser.add_argument(
        "--links", type=int, default=10_000, help="links clicked, Zipf-distributed (10,000)"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="worker batch size (1000)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temp SQLite file)")
    parser.add_argument("--json", action="store_true", help="also print the result as JSON")
    args = parser.parse_args()
    result, redis_cost = measure(args.events, args.links, args.batch_size, args.database_url)
    print(
        f"worker throughput: {result['events_per_second']:,} events/s "
        f"({result['events']:,} events in {result['seconds']} s, {result['database']}, "
        f"batches of {result['batch_size']}); Redis: "
        f"{redis_cost.events_per_cpu_second:,} events per CPU-second"
    )
    if args.json:
        print(json.dumps({**result, "redis": asdict(redis_cost)}))


if __name__ == "__main__":
    main()
