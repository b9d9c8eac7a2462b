"""``linkfleet worker`` sends the deliveries itself: a link change and the clicks it counts
reach the receiver from the worker process, and SIGTERM stops both cleanly."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from service.analytics.extension import DEFAULT_STREAM
from service.extensions import db
from service.links.models import Link
from tests.analytics.conftest import event, worker_env, xadd_events
from tests.analytics.test_worker import start_worker
from tests.fixtures.accounts import ApiClient
from tests.fixtures.services import wait_until
from tests.webhooks.conftest import Receiver

pytestmark = pytest.mark.integration


def test_the_worker_process_delivers_link_events_and_clicks(
    app: Flask,
    api: ApiClient,
    receiver: Receiver,
    database_config: dict[str, Any],
    tmp_path: Path,
) -> None:
    events = ["link.created", "link.clicked"]
    hook = api.post("/api/v1/webhooks", json={"url": receiver.url, "events": events})
    assert hook.status_code == 201, hook.get_json()
    api.create(slug="from-worker")
    env = {
        **worker_env(app, database_config, tmp_path / "run"),
        "LINKFLEET_WEBHOOKS_ALLOW_PRIVATE": "true",
        "LINKFLEET_WEBHOOKS_CLICK_WINDOW_S": "1",
    }
    log = tmp_path / "worker.log"
    worker: subprocess.Popen[bytes] = start_worker(env, log)
    try:
        wait_until(lambda: receiver.events() == ["link.created"], 60, f"no delivery: {log}")
        client = redis.Redis.from_url(app.config["REDIS_URL"])
        with app.app_context():
            link_id = db.session.scalar(select(Link.id).where(Link.slug == "from-worker"))
        xadd_events(client, [event("from-worker", link=link_id, ts=time.time())], DEFAULT_STREAM)
        client.close()
        wait_until(lambda: len(receiver.received) == 2, 60, f"no clicks: {log.read_text()[-2000:]}")
        clicked = receiver.received[1].json
        assert clicked["type"] == "link.clicked"
        assert clicked["data"]["links"] == [{"slug": "from-worker", "clicks": 1}]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0  # the worker runs niced and SCHED_BATCH
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
