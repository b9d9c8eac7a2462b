"""Fixtures of the webhook tests: a real HTTP receiver on loopback, apps allowed to reach it,
the dispatcher, and the receiver's side of the signature check as docs/WEBHOOKS.md has it.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from service.extensions import db
from service.webhooks.dispatcher import Dispatcher
from service.webhooks.models import WebhookDelivery, WebhookEndpoint

DOCS = Path(__file__).resolve().parents[2] / "docs" / "WEBHOOKS.md"


def docs_verify() -> Callable[..., bool]:
    """The ``verify`` function of docs/WEBHOOKS.md, run exactly as written there."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    source = next(block for block in blocks if "def verify(" in block)
    namespace: dict[str, Any] = {}
    exec(compile(source, str(DOCS), "exec"), namespace)  # noqa: S102  # nosec B102  # our docs
    return namespace["verify"]  # type: ignore[no-any-return]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """Records every POST; answers the statuses queued in ``answers`` (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.answers.clear()
            self.delay = 0.0

    def next_answer(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else 200

    def events(self) -> list[str]:
        return [item.json["type"] for item in self.received]


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A :class:`Receiver` on 127.0.0.1 (HTTPS with ``tls``), stopped on exit."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, dict(self.headers.items()), body, time.monotonic())
                )
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.next_answer()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"{receiver.url}elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    receiver.url = f"{scheme}://127.0.0.1:{server.server_port}/"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def _receiver_server() -> Iterator[Receiver]:
    with serving() as receiver:
        yield receiver


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Receiver:
    """The module's receiver, emptied for this test."""
    _receiver_server.reset()
    return _receiver_server


#: Fast retries, the loopback receiver allowed, clicks announced at every round.
WEBHOOK_TEST_CONFIG: dict[str, Any] = {
    "WEBHOOKS_ALLOW_PRIVATE": True,
    "WEBHOOKS_BACKOFF_BASE": 0.05,
    "WEBHOOKS_BACKOFF_MAX": 0.2,
    "WEBHOOKS_TIMEOUT": 2.0,
    "WEBHOOKS_CLICK_WINDOW": 0,
}


@pytest.fixture
def app_config() -> dict[str, Any]:
    return dict(WEBHOOK_TEST_CONFIG)


@pytest.fixture
def dispatcher(app: Flask) -> Dispatcher:
    return Dispatcher(app)


def dispatch_until(dispatcher: Dispatcher, done: Callable[[], bool], timeout: float = 5) -> None:
    """Run delivery rounds until ``done()`` (backoffs in these tests are fractions of a second)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "deliveries did not finish in time"
        dispatcher.run_once()
        time.sleep(0.02)


def deliveries(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        db.session.expunge_all()
        return rows


def endpoint_row(app: Flask, endpoint_id: int) -> WebhookEndpoint:
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        db.session.expunge(endpoint)
        return endpoint
