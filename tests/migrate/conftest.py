"""Fixtures of the migration tests: apps allowed to fetch from loopback, a real HTTP server
on loopback serving peer-shaped pages, and the CLI's ``migrate`` run in-process."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import Result
from flask import Flask

#: (path, query) -> (status, JSON body); None: the server answers 500 from then on.
Handler = Callable[[str, dict[str, str], dict[str, str]], tuple[int, Any]]


@pytest.fixture
def app_config() -> dict[str, Any]:
    """The peers of these tests listen on loopback: the admin switch that allows it."""
    return {"WEBHOOKS_ALLOW_PRIVATE": True}


@dataclass
class PeerServer:
    """A real HTTP server; ``handler`` answers each request; ``requests`` records them."""

    url: str = ""
    handler: Handler | None = None
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def peer_server() -> Iterator[PeerServer]:
    peer = PeerServer()

    class Handle(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                body = self.rfile.read(length).decode()
                query.update({k: v[-1] for k, v in parse_qs(body).items()})
            headers = {key.lower(): value for key, value in self.headers.items()}
            peer.requests.append((parts.path, query, headers))
            assert peer.handler is not None
            status, body_json = peer.handler(parts.path, query, headers)
            data = json.dumps(body_json).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield peer
    server.shutdown()
    server.server_close()
    thread.join(5)


def migrate(app: Flask, *args: str) -> Result:
    """``linkfleet migrate ARGS`` against ``app`` (the command's own code, in-process)."""
    return app.test_cli_runner().invoke(args=["migrate", *args])
