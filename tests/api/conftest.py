"""Fixtures of the API tests: a live server and the problem+json assertion.

Users with keys and the API client are in ``tests/fixtures/accounts.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """``app`` on a real socket (werkzeug's threaded server), stopped after the test."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="api-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "detail", "instance", "request_id"} <= set(body)
    return body  # type: ignore[no-any-return]
