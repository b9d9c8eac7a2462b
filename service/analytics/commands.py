"""``linkfleet worker``: run the analytics worker in the foreground (supervisord runs it)."""

from __future__ import annotations

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
@with_appcontext
def worker_command(
    batch_size: int,
    block_ms: int,
    claim_idle_ms: int,
    consumer: str | None,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Count click events from the Redis Stream into the analytics tables, and send the
    webhook deliveries (docs/WEBHOOKS.md).

    Several workers may run at once (one consumer group). SIGTERM finishes the current
    batch and exits.
    """
    from ..webhooks.dispatcher import Dispatcher
    from .worker import Worker, WorkerSettings, redis_for_worker

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
    worker.run()
    webhooks.stop()
    worker.client.close()
