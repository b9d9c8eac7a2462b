"""Reliability drills: every fault docs/RELIABILITY.md promises to survive, end to end.

One real fleet on loopback (supervisord, nginx, two gevent replicas, Redis, the analytics
worker) on free ports in a temp dir, its database a schema of its own in the machine's
PostgreSQL reached through a TCP proxy that the database-down drill cuts. Every drill sends
its requests through nginx, injects its fault for real, and counts: requests sent and failed,
clicks sent (redirects clients got) and clicks counted (summed from the aggregates table
after the worker drained), lost and doubled. Each drill also checks what its fault must not
do (``problems``). Every loop and wait has a deadline, so each drill stops by itself.

``make drills`` runs them all at full size and writes ``loadtests/results/drills.json`` and
the table between ``<!-- drills:begin -->`` and ``<!-- drills:end -->`` in
docs/RELIABILITY.md. ``tests/e2e/test_drills.py`` runs the same functions at test size.

    python -m loadtests.drills               # all drills, full size, write the results
    python -m loadtests.drills --list        # names only
    python -m loadtests.drills --only redis-down --size test --no-write
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import random
import re
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import Engine, text

from service.fleet.supervisor import Supervisor
from tests.analytics.faults import TcpProxy
from tests.fixtures.fleets import LINKFLEET, Fleet, fleet_env
from tests.fixtures.services import child_pids
from tests.reliability import (
    Traffic,
    all_ready,
    postgres_behind_proxy,
    replica_pids,
    replica_urls,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "loadtests" / "results" / "drills.json"
DOC = ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- drills:begin -->", "<!-- drills:end -->"

#: The country header the drill fleet believes (only when nginx set it, once fixed).
COUNTRY_HEADER = "CF-IPCountry"
#: nginx gives up on a stalled replica after this long and retries the GET elsewhere.
PROXY_READ_TIMEOUT = 3
#: A redirect's User-Agent: a browser, so clicks count as human visits.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@dataclass(frozen=True)
class Size:
    """How hard each drill pushes; ``full`` for ``make drills``, ``test`` for ``make test``."""

    name: str
    clients: int
    #: Seconds of GET load around a kill, a restart or scaling.
    traffic_seconds: float
    #: Seconds Redis and the database stay down.
    outage_seconds: float
    #: The fleet's stream cap (LINKFLEET_ANALYTICS_STREAM_MAXLEN) and how many times it
    #: arrives as clicks while the worker is down.
    stream_cap: int
    cap_multiple: int
    #: GETs stalled on a frozen replica until nginx retries them.
    stalled_requests: int
    #: Requests of each flood (unknown slugs, invalid keys).
    flood: int
    #: Each drill's time limit in seconds; exceeding it is a problem of the drill.
    limit: float


SIZES = {
    "full": Size("full", 4, 20.0, 30.0, 1000, 5, 5, 2000, 240.0),
    "test": Size("test", 3, 6.0, 5.0, 300, 4, 2, 400, 150.0),
}


@dataclass
class Result:
    """One row of the table, plus what the drill measured and found wrong."""

    scenario: str
    requests_sent: int = 0
    failed: int = 0
    clicks_sent: int | None = None
    clicks_counted: int | None = None
    seconds: float = 0.0
    #: Expectations of the drill that did not hold (empty: it passed).
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> int | None:
        if self.clicks_sent is None or self.clicks_counted is None:
            return None
        return max(0, self.clicks_sent - self.clicks_counted)

    @property
    def doubled(self) -> int | None:
        if self.clicks_sent is None or self.clicks_counted is None:
            return None
        return max(0, self.clicks_counted - self.clicks_sent)

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "lost": self.lost, "doubled": self.doubled}


def progress(message: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {message}", flush=True)


# -- the fleet --------------------------------------------------------------------------------


@dataclass
class DrillFleet:
    """The running fleet and the drills' hands on it."""

    fleet: Fleet
    proxy: TcpProxy
    #: Straight to the fleet's schema, not through the proxy (counts survive a cut).
    db: Engine
    api: requests.Session
    redis: redis.Redis
    workdir: Path
    size: Size

    @property
    def url(self) -> str:
        return self.fleet.url

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.fleet.spec)

    def new_link(self, label: str) -> tuple[str, int]:
        """A fresh link made through the API: its slug and id."""
        response = self.api.post(
            f"{self.url}/api/v1/links", json={"url": f"https://example.org/{label}"}, timeout=30
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating a link answered {response.status_code}: {response.text}")
        slug = str(response.json()["slug"])
        with self.db.connect() as connection:
            link_id = connection.execute(
                text("SELECT id FROM links WHERE slug = :slug"), {"slug": slug}
            ).scalar_one()
        return slug, int(link_id)

    def warm(self, slug: str) -> int:
        """Each replica holds the link in L1 (Redis in L2); returns the redirects made.
        Waits out the second invalidation of a new link (service/links/cache.py) first."""
        time.sleep(1.0)
        made = 0
        for base in [*replica_urls(self.fleet.spec), self.url, self.url]:
            response = requests.get(f"{base}/{slug}", allow_redirects=False, timeout=5)
            if response.status_code != 302:
                raise RuntimeError(f"warming {slug} on {base} answered {response.status_code}")
            made += 1
        return made

    def counted(self, link_id: int) -> int:
        """Clicks of the link in the aggregates table."""
        with self.db.connect() as connection:
            total = connection.execute(
                text("SELECT COALESCE(SUM(visits), 0) FROM analytics_hourly WHERE link_id = :id"),
                {"id": link_id},
            ).scalar_one()
        return int(total)

    def wait_counted(self, link_id: int, sent: int, timeout: float = 75.0) -> int:
        """Wait (bounded) until the worker counted ``sent`` clicks, then a little longer so
        that late doubles show; the count."""
        wait_for(lambda: self.counted(link_id) >= sent, timeout, interval=0.5)
        time.sleep(2.0)
        return self.counted(link_id)

    def restore(self) -> None:
        """Back to two replicas, Redis and the worker running, everything ready."""
        processes = self.supervisor.processes()
        for name in ("redis", "worker", *self.fleet.spec.replicas):
            if processes.get(name, {}).get("statename") != "RUNNING":
                self.supervisor.rpc.startProcess(name, True)
        if len(self.fleet.spec.replicas) != 2:
            self.fleet.cli("fleet", "scale", "2")
        if not wait_for(lambda: all_ready(self.fleet.spec), 30, 0.2):
            raise RuntimeError("the fleet did not turn ready again")


def _redis_url(fleet: Fleet) -> str:
    """The fleet's Redis URL with its credentials, from the env file the CLI reads."""
    env_file = fleet.spec.env_file
    for line in env_file.read_text().splitlines() if env_file.exists() else []:
        if line.startswith("LINKFLEET_REDIS_URL="):
            return line.split("=", 1)[1]
    return fleet.spec.redis_url


@contextlib.contextmanager
def drill_fleet(size: Size, workdir: Path) -> Iterator[DrillFleet]:
    """Start the drills' fleet (two replicas on PostgreSQL through a proxy); stop it after."""
    with postgres_behind_proxy() as (url, proxy, direct):
        run_dir = workdir / "run"
        env = fleet_env(
            run_dir,
            LINKFLEET_DATABASE_URL=url,
            LINKFLEET_ANALYTICS_STREAM_MAXLEN=str(size.stream_cap),
            LINKFLEET_ANALYTICS_COUNTRY_HEADER=COUNTRY_HEADER,
            LINKFLEET_NGINX_PROXY_READ_TIMEOUT=f"{PROXY_READ_TIMEOUT}s",
        )
        fleet = Fleet(run_dir, env, f"http://127.0.0.1:{env['LINKFLEET_PORT']}")
        try:
            progress(f"starting a fleet in {run_dir} on port {env['LINKFLEET_PORT']}")
            fleet.cli("fleet", "up", "--replicas", "2")
            email = "drills@example.com"
            subprocess.run(
                [LINKFLEET, "user", "create", email, "--password-stdin"],
                input="a drills password\n",
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
            key = fleet.cli("apikey", "create", email, "--name", "drills").stdout.strip()
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {key}"
            client = redis.Redis.from_url(_redis_url(fleet))
            try:
                yield DrillFleet(fleet, proxy, direct, api, client, workdir, size)
            finally:
                client.close()
                api.close()
        finally:
            progress("stopping the fleet")
            fleet.cli("fleet", "down", check=False)


# -- load -------------------------------------------------------------------------------------

Counter = collections.Counter[str]


def burst(url: str, total: int, clients: int, headers: dict[str, str] | None = None) -> Counter:
    """``total`` GETs over ``clients`` keep-alive sessions, as fast as they go; statuses."""
    statuses: Counter = collections.Counter()
    lock = threading.Lock()
    urls = [url] if "{}" not in url else None

    def run(count: int, offset: int) -> None:
        local: Counter = collections.Counter()
        with requests.Session() as session:
            for number in range(count):
                target = urls[0] if urls else url.format(offset + number)
                try:
                    response = session.get(
                        target,
                        allow_redirects=False,
                        timeout=10,
                        headers={"User-Agent": USER_AGENT, **(headers or {})},
                    )
                    local[str(response.status_code)] += 1
                except requests.RequestException as error:
                    local[type(error).__name__] += 1
        with lock:
            statuses.update(local)

    shares = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    offsets = [sum(shares[:i]) for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(run, s, o) for s, o in zip(shares, offsets, strict=True)]:
            future.result()
    return statuses


class PostLoop:
    """An API client creating a link every 0.6 s (inside the key's write budget)."""

    def __init__(self, ctx: DrillFleet, seconds: float) -> None:
        self.ctx = ctx
        self.deadline = time.monotonic() + seconds
        self.stopped = threading.Event()
        self.outcomes: Counter = collections.Counter()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.is_set() and time.monotonic() < self.deadline:
            try:
                response = self.ctx.api.post(
                    f"{self.ctx.url}/api/v1/links",
                    json={"url": f"https://example.org/rolling/{time.monotonic_ns()}"},
                    timeout=10,
                    headers={"Connection": "close"},
                )
                self.outcomes[str(response.status_code)] += 1
            except requests.RequestException as error:
                self.outcomes[type(error).__name__] += 1
            time.sleep(0.6)

    def __enter__(self) -> PostLoop:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(15)


def _clicks(result: Result, ctx: DrillFleet, link_id: int, sent: int, **wait: float) -> None:
    result.clicks_sent = sent
    progress(f"waiting for the worker to count {sent} clicks")
    result.clicks_counted = ctx.wait_counted(link_id, sent, **wait)


def _traffic_result(result: Result, traffic: Traffic) -> None:
    result.requests_sent += traffic.sent
    result.failed += traffic.failed()
    result.figures["outcomes"] = dict(traffic.outcomes)


def _kill_group(master: int, sig: signal.Signals) -> None:
    for pid in [master, *child_pids(master)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


# -- the drills -------------------------------------------------------------------------------


def kill_9_replica(ctx: DrillFleet, result: Result) -> None:
    """kill -9 of replica-1 (master and workers) under GETs; supervisord restarts it."""
    slug, link_id = ctx.new_link("kill-9")
    served = ctx.warm(slug)
    size = ctx.size
    with Traffic(f"{ctx.url}/{slug}", clients=size.clients, seconds=size.traffic_seconds) as load:
        time.sleep(size.traffic_seconds / 3)
        victim = replica_pids(ctx.fleet.spec)["replica-1"]
        progress(f"kill -9 replica-1 (pid {victim}) and its workers")
        _kill_group(victim, signal.SIGKILL)
        restarted = wait_for(
            lambda: (
                replica_pids(ctx.fleet.spec)["replica-1"] not in (0, victim)
                and all_ready(ctx.fleet.spec)
            ),
            30,
            0.2,
        )
        time.sleep(max(1.0, load.deadline - time.monotonic()))
    result.expect(restarted, "supervisord did not restart replica-1 within 30 s")
    _traffic_result(result, load)
    _clicks(result, ctx, link_id, served + load.outcomes["302"])


def rolling_restart(ctx: DrillFleet, result: Result) -> None:
    """`linkfleet fleet restart` (one replica at a time) under GETs and API POSTs."""
    slug, link_id = ctx.new_link("rolling")
    served = ctx.warm(slug)
    seconds = ctx.size.traffic_seconds + 60
    load = Traffic(f"{ctx.url}/{slug}", clients=ctx.size.clients, seconds=seconds)
    before = replica_pids(ctx.fleet.spec)
    with load, PostLoop(ctx, seconds) as posts:
        progress("linkfleet fleet restart")
        restart = ctx.fleet.cli("fleet", "restart", check=False)
        time.sleep(1.0)
    result.expect(restart.returncode == 0, f"fleet restart failed: {restart.stderr[-300:]}")
    after = replica_pids(ctx.fleet.spec)
    result.expect(
        all(after[name] != pid for name, pid in before.items()),
        f"not every replica restarted: {before} {after}",
    )
    _traffic_result(result, load)
    result.requests_sent += sum(posts.outcomes.values())
    result.failed += sum(posts.outcomes.values()) - posts.outcomes["201"]
    result.figures["posts"] = dict(posts.outcomes)
    result.expect(posts.outcomes["201"] > 0, "no POST was made during the restart")
    _clicks(result, ctx, link_id, served + load.outcomes["302"])


def scale_2_4_1(ctx: DrillFleet, result: Result) -> None:
    """`linkfleet fleet scale` 2 → 4 → 1 under GETs (then back to 2 for the next drills)."""
    slug, link_id = ctx.new_link("scale")
    served = ctx.warm(slug)
    with Traffic(f"{ctx.url}/{slug}", clients=ctx.size.clients, seconds=120) as load:
        for count in ("4", "1"):
            progress(f"linkfleet fleet scale {count}")
            scaled = ctx.fleet.cli("fleet", "scale", count, check=False)
            result.expect(scaled.returncode == 0, f"scale {count} failed: {scaled.stderr[-300:]}")
            result.expect(len(ctx.fleet.spec.replicas) == int(count), f"not {count} replicas")
            time.sleep(ctx.size.traffic_seconds / 3)
    _traffic_result(result, load)
    result.figures["served_by"] = dict(load.served_by)
    for added in ("replica-3", "replica-4"):
        result.expect(load.served_by[added] > 0, f"{added} was added but never served")
    ctx.restore()
    _clicks(result, ctx, link_id, served + load.outcomes["302"])


def redis_down(ctx: DrillFleet, result: Result) -> None:
    """Redis stopped for the outage, started again; replicas are not restarted."""
    slug, link_id = ctx.new_link("redis-down")
    served = ctx.warm(slug)
    pids = replica_pids(ctx.fleet.spec)
    outage = ctx.size.outage_seconds
    with Traffic(f"{ctx.url}/{slug}", clients=ctx.size.clients, seconds=outage + 40) as load:
        progress(f"Redis down for {outage:.0f} s")
        ctx.supervisor.rpc.stopProcess("redis", True)
        try:
            time.sleep(outage)
        finally:
            ctx.supervisor.rpc.startProcess("redis", True)
        back = wait_for(lambda: all_ready(ctx.fleet.spec), 30, 0.2)
        time.sleep(1.0)
    result.expect(back, "the fleet did not turn ready within 30 s of Redis returning")
    result.expect(replica_pids(ctx.fleet.spec) == pids, "a replica was restarted")
    _traffic_result(result, load)
    _clicks(result, ctx, link_id, served + load.outcomes["302"])


def database_down(ctx: DrillFleet, result: Result) -> None:
    """PostgreSQL cut off (the proxy resets connections and refuses new ones)."""
    slug, link_id = ctx.new_link("db-down")
    served = ctx.warm(slug)
    outage = ctx.size.outage_seconds
    with Traffic(f"{ctx.url}/{slug}", clients=ctx.size.clients, seconds=outage + 40) as load:
        progress(f"the database down for {outage:.0f} s")
        ctx.proxy.cut()
        try:
            write = ctx.api.post(
                f"{ctx.url}/api/v1/links", json={"url": "https://example.org/down"}, timeout=30
            )
            time.sleep(max(0.0, outage - 1))
        finally:
            ctx.proxy.restore()
        back = wait_for(lambda: all_ready(ctx.fleet.spec), 30, 0.2)
        time.sleep(1.0)
    result.expect(back, "the fleet did not turn ready within 30 s of the database returning")
    _traffic_result(result, load)
    result.requests_sent += 1
    result.failed += int(write.status_code != 503)
    result.figures["write_during_outage"] = write.status_code
    _clicks(result, ctx, link_id, served + load.outcomes["302"])


def worker_down(ctx: DrillFleet, result: Result) -> None:
    """The analytics worker stopped while several times the stream cap of clicks arrive."""
    slug, link_id = ctx.new_link("worker-down")
    served = ctx.warm(slug)
    total = ctx.size.stream_cap * ctx.size.cap_multiple
    stream = "linkfleet:clicks"
    progress(f"worker stopped; {total} clicks (stream cap {ctx.size.stream_cap})")
    ctx.supervisor.rpc.stopProcess("worker", True)
    try:
        statuses = burst(f"{ctx.url}/{slug}", total, ctx.size.clients)
        shipped = wait_for(lambda: _backlog(ctx) == 0, 30, 0.5)
        result.figures["stream_length_with_worker_down"] = int(ctx.redis.xlen(stream))
    finally:
        ctx.supervisor.rpc.startProcess("worker", True)
    result.figures["spools_shipped_before_restart"] = shipped
    result.requests_sent = sum(statuses.values())
    result.failed = result.requests_sent - statuses["302"]
    result.figures["outcomes"] = dict(statuses)
    _clicks(result, ctx, link_id, served + statuses["302"], timeout=120)


def _backlog(ctx: DrillFleet) -> int:
    """Spooled events not yet shipped, summed over replicas (their /metrics)."""
    total = 0.0
    for base in replica_urls(ctx.fleet.spec):
        total += _metric(base, "linkfleet_analytics_spool_backlog_bytes")
    return int(total)


def _metric(base: str, name: str, labels: str = "") -> float:
    """Sum of the samples of ``name`` (with ``labels`` in their label set) at ``base``."""
    response = requests.get(f"{base}/metrics", timeout=5)
    total = 0.0
    for line in response.text.splitlines():
        if line.startswith(name) and labels in line and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            if head.split("{", 1)[0] == name:
                total += float(value)
    return total


#: Seconds Redis stays down in the SIGTERM drill: long enough for the shipper's backoff to
#: reach its cap (tries at about 0, 0.5, 1.5, 3.5 and 7.5 s, the next 5 s later), so that
#: once Redis is back it still waits a few seconds before shipping, and the SIGTERM, sent as
#: soon as Redis runs again, meets unshipped clicks. With 3 s the shipper's next try could
#: come before the SIGTERM, and the drill then found nothing to test.
SIGTERM_DRILL_OUTAGE = 8.0


def sigterm_unshipped(ctx: DrillFleet, result: Result) -> None:
    """SIGTERM of replica-2 while it holds unshipped events (Redis was down a moment, the
    shipper still backs off); replica-2 is not started again until the count is taken, and
    the count is taken before the surviving replica's periodic adoption (every 30 s) could
    ship the dead spool: only a drain at SIGTERM counts every click in time."""
    slug, link_id = ctx.new_link("sigterm")
    served = ctx.warm(slug)
    with Traffic(f"{ctx.url}/{slug}", clients=ctx.size.clients, seconds=60) as load:
        ctx.supervisor.rpc.stopProcess("redis", True)
        time.sleep(SIGTERM_DRILL_OUTAGE)
        ctx.supervisor.rpc.startProcess("redis", True)
        unshipped = _unshipped(ctx.fleet.run_dir / "spool" / "replica-2")
        progress(f"SIGTERM replica-2 holding {unshipped} unshipped clicks (not restarted)")
        term_at = time.monotonic()
        ctx.supervisor.rpc.stopProcess("replica-2", True)
        stopped_at = time.monotonic()
        time.sleep(2.0)
    _traffic_result(result, load)
    sent = served + load.outcomes["302"]
    result.clicks_sent = sent
    progress("counting for 10 s after replica-2 stopped")
    wait_for(lambda: ctx.counted(link_id) >= sent, 10 - (time.monotonic() - stopped_at), 0.5)
    result.clicks_counted = ctx.counted(link_id)
    result.figures.update(
        unshipped_at_sigterm=unshipped,
        stop_seconds=round(stopped_at - term_at, 1),
        counted_within_s_of_stop=10,
    )
    result.expect(unshipped > 0, "replica-2 had shipped everything: the drill tested nothing")
    ctx.restore()
    result.figures["counted_after_replica_2_restarted"] = ctx.wait_counted(link_id, sent)


def _unshipped(spool_dir: Path) -> int:
    """Events in ``spool_dir``'s files after their saved offsets (service/analytics/spool.py:
    ``<name>.jsonl`` and ``<name>.offset``, the bytes shipped in decimal)."""
    events = 0
    for offset_file in spool_dir.glob("*.offset"):
        with contextlib.suppress(OSError, ValueError):
            data = offset_file.with_suffix(".jsonl")
            shipped = int(offset_file.read_text().strip() or 0)
            events += data.read_bytes()[shipped:].count(b"\n")
    return events


def nginx_retry(ctx: DrillFleet, result: Result) -> None:
    """A GET that nginx retries on the other replica after the first one stalled past
    ``proxy_read_timeout`` (its workers frozen by SIGSTOP); thawed, the first replica
    serves the same request too, into a closed connection. One click per request."""
    slug, link_id = ctx.new_link("retry")
    served = ctx.warm(slug)
    outcomes: Counter = collections.Counter()
    stalled = 0
    lock = threading.Lock()

    def get(number: int) -> None:
        try:
            response = requests.get(
                f"{ctx.url}/{slug}?n={number}",
                allow_redirects=False,
                timeout=30,
                headers={"Connection": "close", "User-Agent": USER_AGENT},
            )
            outcome = str(response.status_code)
        except requests.RequestException as error:
            outcome = type(error).__name__
        with lock:
            outcomes[outcome] += 1

    number = 0
    for round_ in range(ctx.size.stalled_requests):
        master = replica_pids(ctx.fleet.spec)["replica-1"]
        workers = child_pids(master)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        threads: list[threading.Thread] = []
        try:
            for _ in range(10):  # until one request sits on the frozen replica
                number += 1
                thread = threading.Thread(target=get, args=(number,), daemon=True)
                thread.start()
                threads.append(thread)
                thread.join(1.0)
                if thread.is_alive():
                    stalled += 1
                    break
            for thread in threads:
                thread.join(PROXY_READ_TIMEOUT + 15)
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        progress(f"round {round_ + 1}: a GET stalled on replica-1, retried by nginx")
        time.sleep(2.5)  # nginx's fail_timeout for replica-1
    time.sleep(1.5)  # nginx flushes its access log every second
    retried = _retried(ctx, slug)
    result.requests_sent = number
    result.failed = number - outcomes["302"]
    result.figures.update(outcomes=dict(outcomes), stalled=stalled, retried_by_nginx=retried)
    result.expect(retried >= 1, "nginx retried no request: the drill tested nothing")
    _clicks(result, ctx, link_id, served + outcomes["302"])


def _retried(ctx: DrillFleet, slug: str) -> int:
    """Requests for ``slug`` that nginx sent to more than one replica (its access log)."""
    log = ctx.fleet.spec.log_dir / "nginx-access.log"
    count = 0
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry["uri"].startswith(f"/{slug}?") and "," in entry["upstream"]:
                count += 1
    return count


def _pickle_that_touches(marker: Path) -> bytes:
    """A protocol-0 pickle whose unpickling calls ``open(marker, "w")``: written by hand,
    since the drill must never unpickle anything itself."""
    return b"cbuiltins\nopen\n(V" + str(marker).encode() + b"\nVw\ntR."


def session_blobs(ctx: DrillFleet, result: Result) -> None:
    """A pickle and a garbage blob planted in Redis as session blobs: a request carrying
    either session id is served as anonymous, and no code from Redis runs."""
    marker = ctx.workdir / f"pickle-ran-{uuid.uuid4().hex}"
    blobs = {"pickle": _pickle_that_touches(marker), "garbage": b"\xc1\x00not json{"}
    answers: dict[str, list[int]] = {}
    for kind, blob in blobs.items():
        sid = secrets.token_urlsafe(32)
        ctx.redis.set(f"linkfleet:session:{sid}", blob, ex=600)
        answers[kind] = []
        for _ in range(2):  # likely both replicas
            response = requests.get(
                f"{ctx.url}/dashboard",
                cookies={"linkfleet_session": sid},
                allow_redirects=False,
                timeout=10,
            )
            anonymous = response.status_code == 302 and "/login" in response.headers.get(
                "Location", ""
            )
            answers[kind].append(response.status_code)
            result.requests_sent += 1
            result.failed += int(not anonymous)
    result.figures["answers"] = answers
    result.figures["code_ran"] = marker.exists()
    result.expect(not marker.exists(), "the planted pickle ran code in a replica")


def spoofed_headers(ctx: DrillFleet, result: Result) -> None:
    """Clients sending their own X-Forwarded-For and country header: neither reaches the
    analytics dimensions, the visitor hash or any file the fleet writes."""
    slug, link_id = ctx.new_link("spoofed")
    served = ctx.warm(slug)
    total = 40 if ctx.size.name == "test" else 200
    spoof_net, spoof_country = "198.51.100.", "ZZ"
    outcomes: Counter = collections.Counter()
    with requests.Session() as session:
        for number in range(total):
            response = session.get(
                f"{ctx.url}/{slug}",
                allow_redirects=False,
                timeout=10,
                headers={
                    "User-Agent": USER_AGENT,
                    "X-Forwarded-For": f"{spoof_net}{number % 250 + 1}",
                    COUNTRY_HEADER: spoof_country,
                },
            )
            outcomes[str(response.status_code)] += 1
    result.requests_sent = total
    result.failed = total - outcomes["302"]
    _clicks(result, ctx, link_id, served + outcomes["302"])
    with ctx.db.connect() as connection:
        values = connection.execute(
            text(
                "SELECT dimension, value FROM analytics_daily_dimensions WHERE link_id = :id"
                " AND value <> ''"
            ),
            {"id": link_id},
        ).all()
        visitors = connection.execute(
            text("SELECT COUNT(*) FROM analytics_daily_visitors WHERE link_id = :id"),
            {"id": link_id},
        ).scalar_one()
    time.sleep(1.5)  # nginx's access log buffer
    leaks = _files_containing(ctx.fleet.run_dir, spoof_net.encode())
    countries = sorted({value for dimension, value in values if dimension == "country"})
    result.figures.update(countries=countries, visitors=int(visitors), files_with_spoof=leaks)
    result.expect(spoof_country not in countries, "the client's country header was recorded")
    result.expect(not any(spoof_net in value for _, value in values), "spoofed address stored")
    result.expect(int(visitors) == 1, f"{visitors} visitors: the hash used the spoofed address")
    result.expect(not leaks, f"the spoofed address was written to {leaks}")


def _files_containing(root: Path, needle: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(str(path.relative_to(root)))
    return sorted(found)


def _db_lookups(ctx: DrillFleet) -> float:
    return sum(
        _metric(base, "linkfleet_link_cache_hits_total", 'tier="db"')
        for base in replica_urls(ctx.fleet.spec)
    )


def flood_404(ctx: DrillFleet, result: Result) -> None:
    """One client asking for thousands of unknown slugs: the database must not see a query
    per request (counted with the replicas' ``linkfleet_link_cache_hits_total{tier="db"}``)."""
    before = _db_lookups(ctx)
    alphabet = string.ascii_lowercase + string.digits
    prefix = "".join(random.choices(alphabet, k=6))
    progress(f"{ctx.size.flood} GETs of unknown slugs")
    statuses = burst(f"{ctx.url}/nx{prefix}{{}}", ctx.size.flood, ctx.size.clients)
    lookups = _db_lookups(ctx) - before
    result.requests_sent = sum(statuses.values())
    result.failed = result.requests_sent - statuses["404"] - statuses["429"]
    budget = ctx.size.flood // 10
    result.figures.update(outcomes=dict(statuses), sql_lookups=int(lookups), budget=budget)
    result.expect(lookups <= budget, f"{int(lookups)} SQL lookups for {ctx.size.flood} 404s")


def _key_lookups(ctx: DrillFleet, steady: float) -> int:
    """Scans of the api_keys table so far (PostgreSQL's statistics of our schema), once
    unchanged for ``steady`` seconds: a backend flushes its table statistics about a second
    after it goes idle, or 10 s later when the first try met a lock."""

    def scans() -> int:
        with ctx.db.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT COALESCE(seq_scan, 0) + COALESCE(idx_scan, 0)"
                        " FROM pg_stat_user_tables"
                        " WHERE relname = 'api_keys' AND schemaname = current_schema()"
                    )
                ).scalar_one()
            )

    last, steady_since = scans(), time.monotonic()
    deadline = time.monotonic() + steady + 10
    while time.monotonic() < deadline and time.monotonic() - steady_since < steady:
        time.sleep(0.5)
        now = scans()
        if now != last:
            last, steady_since = now, time.monotonic()
    return last


def invalid_keys(ctx: DrillFleet, result: Result) -> None:
    """A client trying well-formed but unknown API keys: answered 429 before long, and the
    database looks up a bounded number of them."""
    before = _key_lookups(ctx, steady=3)
    alphabet = string.ascii_letters + string.digits
    total = ctx.size.flood // 2
    statuses: Counter = collections.Counter()
    progress(f"{total} API requests with invalid keys")
    with requests.Session() as session:
        for _ in range(total):
            key = "lf_" + "".join(random.choices(alphabet, k=8)) + "_" + secrets.token_urlsafe(32)
            try:
                response = session.get(
                    f"{ctx.url}/api/v1/links",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=10,
                )
                statuses[str(response.status_code)] += 1
            except requests.RequestException as error:
                statuses[type(error).__name__] += 1
    lookups = _key_lookups(ctx, steady=11) - before
    result.requests_sent = total
    result.failed = total - statuses["401"] - statuses["429"]
    budget = total // 10
    result.figures.update(outcomes=dict(statuses), key_lookups=lookups, budget=budget)
    result.expect(statuses["429"] > 0, "no invalid key was answered 429")
    result.expect(lookups <= budget, f"{lookups} key lookups for {total} invalid keys")


Drill = Callable[[DrillFleet, Result], None]

#: Every drill, in the order they run (each leaves the fleet as it found it).
DRILLS: dict[str, Drill] = {
    "kill-9-replica": kill_9_replica,
    "rolling-restart": rolling_restart,
    "scale-2-4-1": scale_2_4_1,
    "redis-down": redis_down,
    "database-down": database_down,
    "worker-down-past-stream-cap": worker_down,
    "sigterm-unshipped-replica": sigterm_unshipped,
    "nginx-retry-after-stall": nginx_retry,
    "session-blobs": session_blobs,
    "spoofed-headers": spoofed_headers,
    "404-flood": flood_404,
    "invalid-key-flood": invalid_keys,
}

#: What each row of the table means, for the doc.
DESCRIPTIONS = {
    name: " ".join((drill.__doc__ or "").split("\n\n")[0].split()) for name, drill in DRILLS.items()
}


def run_drill(ctx: DrillFleet, name: str) -> Result:
    """Run one drill, timed and bounded; a crash of the drill itself is a problem, not an
    exception, and the fleet is restored for the next one."""
    result = Result(name)
    print(f"drill {name}", flush=True)
    started = time.monotonic()
    try:
        DRILLS[name](ctx, result)
    except Exception as error:
        result.problems.append(f"the drill failed: {type(error).__name__}: {error}")
    result.seconds = round(time.monotonic() - started, 1)
    result.expect(result.seconds <= ctx.size.limit, f"took over {ctx.size.limit:.0f} s")
    for check, value in (
        ("failed", result.failed),
        ("lost", result.lost),
        ("doubled", result.doubled),
    ):
        result.expect(not value, f"{value} {check}")
    try:
        ctx.restore()
    except Exception as error:
        result.problems.append(f"the fleet could not be restored: {error}")
    verdict = "ok" if not result.problems else "PROBLEMS: " + "; ".join(result.problems)
    print(
        f"  {name}: sent {result.requests_sent}, failed {result.failed}, clicks "
        f"{result.clicks_sent}/{result.clicks_counted}, lost {result.lost}, doubled "
        f"{result.doubled}, {result.seconds} s - {verdict}",
        flush=True,
    )
    return result


# -- the report -------------------------------------------------------------------------------


def _cell(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | requests sent | failed | clicks sent | clicks counted | lost | doubled"
        " | seconds | expectations |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        verdict = "met" if not r.problems else "**not met**: " + "; ".join(r.problems)
        lines.append(
            f"| `{r.scenario}` | {_cell(r.requests_sent)} | {_cell(r.failed)} | "
            f"{_cell(r.clicks_sent)} | {_cell(r.clicks_counted)} | {_cell(r.lost)} | "
            f"{_cell(r.doubled)} | {r.seconds:.0f} | {verdict} |"
        )
    return "\n".join(lines)


def write_results(results: list[Result], size: Size) -> None:
    """loadtests/results/drills.json and the table in docs/RELIABILITY.md."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "run": when,
                "size": asdict(size),
                "machine": machine,
                "drills": [r.as_json() for r in results],
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    block = (
        f"{BEGIN}\n<!-- written by `make drills` (loadtests/drills.py); do not edit -->\n"
        f"Run of {when}, {os.cpu_count()} CPUs, size `{size.name}`"
        f" (figures: `loadtests/results/drills.json`).\n\n{table(results)}\n{END}"
    )
    doc = DOC.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{DOC} has no {BEGIN} ... {END} block to write")
    DOC.write_text(pattern.sub(lambda _: block, doc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.drills",
        description="Run the reliability drills on a real local fleet (free ports, a temp dir, "
        "PostgreSQL at LINKFLEET_TEST_POSTGRES_URL) and write their table.",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full", help="default: full")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(DRILLS),
        metavar="DRILL",
        help="run these drills only (the doc is then not written)",
    )
    parser.add_argument("--list", action="store_true", help="list the drills and exit")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    if args.list:
        for name, description in DESCRIPTIONS.items():
            print(f"{name:30} {description}")
        return 0
    size = SIZES[args.size]
    names = args.only or list(DRILLS)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="linkfleet-drills-") as workdir,
        drill_fleet(size, Path(workdir)) as ctx,
    ):
        results = [run_drill(ctx, name) for name in names]
    print(f"\n{table(results)}\n\n{len(results)} drills in {time.monotonic() - started:.0f} s")
    if not args.no_write and not args.only:
        write_results(results, size)
        print(f"wrote {RESULTS.relative_to(ROOT)} and the table of {DOC.relative_to(ROOT)}")
    return 0 if all(not r.problems for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
