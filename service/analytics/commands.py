"""``linkfleet worker``: run the analytics worker in the foreground (supervisord runs it)."""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("worker")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Stream entries per batch (one transaction each).",
)
@click.option(
    "--block-ms",
    type=click.IntRange(1, 60_000),
    default=1000,
    show_default=True,
    help="How long one read waits for new entries.",
)
@click.option(
    "--claim-idle-ms",
    type=click.IntRange(100),
    default=30_000,
    show_default=True,
    help="Take over entries pending this long in another (dead) consumer.",
)
@click.option("--consumer", default=None, help="Consumer name (default: <host>-<pid>).")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port (default: "
    "LINKFLEET_ANALYTICS_WORKER_METRICS_PORT; 0 = off).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address of the metrics endpoint (0.0.0.0 in containers).",
)
@click.option(
    "--nice",
    "niceness",
    type=click.IntRange(0, 19),
    default=10,
    show_default=True,
    help="Lower the worker's CPU priority by this much and make it a batch task (Linux "
    "SCHED_BATCH): where it shares cores with replicas, its burst after each shipped "
    "batch then waits for the requests instead of delaying them. 0: unchanged.",
)
@with_appcontext
def worker_command(
    batch_size: int,
    block_ms: int,
    claim_idle_ms: int,
    consumer: str | None,
    metrics_port: int | None,
    metrics_host: str,
    niceness: int,
) -> None:
    """Count click events from the Redis Stream into the analytics tables, send the
    webhook deliveries (docs/WEBHOOKS.md) and run the dashboard's migrations
    (docs/MIGRATING.md).

    Several workers may run at once (one consumer group). SIGTERM finishes the current
    batch and exits.
    """
    from ..migrate.jobs import JobRunner
    from ..webhooks.dispatcher import Dispatcher
    from .worker import Worker, WorkerSettings, redis_for_worker

    yield_cpu(niceness)
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = WorkerSettings.from_config(
        app.config,
        batch_size=batch_size,
        block_ms=block_ms,
        claim_idle_ms=claim_idle_ms,
        consumer=consumer,
    )
    webhooks = Dispatcher(app)
    worker = Worker(
        app, redis_for_worker(app.config["REDIS_URL"], block_ms), settings, webhooks.clicks
    )

    def stop(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        app.logger.info("analytics worker: %s received, finishing the batch", name)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = (
        metrics_port
        if metrics_port is not None
        else int(app.config.get("ANALYTICS_WORKER_METRICS_PORT") or 0)
    )
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=metrics_host)
        app.logger.info("analytics worker: metrics on http://%s:%d/metrics", metrics_host, port)
    webhooks.start()  # the webhook deliveries, in a thread of this process
    migrations = JobRunner(app)
    migrations.start()  # the dashboard's migrations (docs/MIGRATING.md), in another
    worker.run()
    migrations.stop()
    webhooks.stop()
    worker.client.close()


def yield_cpu(niceness: int) -> None:
    """Run this process (and the threads it starts later) below the request path.

    Measured with ``perf sched`` on the benchmark's one-core stack at 800 redirects/s: the
    worker woke after every shipped batch (5 a second) and, as a sleeper, preempted
    gunicorn and nginx for its whole burst; 14 % of the replica's run-queue wait was spent
    behind it, in bursts the clients saw as 20-80 ms stalls every 0.2 s. A batch task at a
    lower priority still gets every idle cycle, and counting clicks a moment later costs
    nothing.
    """
    if niceness <= 0:
        return
    os.nice(niceness)
    if hasattr(os, "sched_setscheduler"):
        # A kernel or sandbox without it: the nice value alone.
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
