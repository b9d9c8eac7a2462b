"""Shared fixtures: real services started once per session, an app per test.

Services fail loudly when they cannot start; nothing is skipped and nothing is faked.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Connection, Engine, create_engine, event, text

from service import create_app
from service.accounts.services import create_user as create_account
from service.extensions import db

POSTGRES_URL = os.environ.get(
    "LINKFLEET_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, timeout: float, message: str) -> None:
    """Poll ``predicate`` until it is true or fail the test with ``message``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s: {message}")


def quiesce_link_cache(app: Flask) -> None:
    """Wait until ``app``'s invalidation listener is subscribed and has delivered every
    invalidation sent so far (recent writes' own and their delayed second ones), so that a
    test counting queries or Redis commands measures lookups, not late evictions.

    A marker put in L1 is evicted by a message published after all of them, and Redis
    delivers a channel's messages in order.
    """
    from service.links.cache import INVALIDATE_CHANNEL, LinkRecord, link_cache

    state = link_cache.state(app)
    with app.test_request_context():
        link_cache.lookup("quiesce-warmup")  # starts this process's listener
    wait_until(lambda: link_cache.listening(app), 5, "the invalidation listener subscribed")
    wait_until(lambda: state.timer is None and not state.pending, 5, "re-invalidations ran")
    marker = "quiesce-marker"
    with state.lock:
        state.l1[marker] = LinkRecord(marker, "https://example.com/", 302, None, None, None, False)
    state.redis.publish(INVALIDATE_CHANNEL, marker)
    wait_until(lambda: marker not in state.l1, 5, "the listener caught up")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a gunicorn master's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class RedisServer:
    """A private ``redis-server`` on a free port; can be stopped and started again.

    It requires a password, like every Redis LinkFleet runs on: ``url`` carries it, so a
    client built without it is refused (``NOAUTH``) and the test says so. With ``tls`` it
    speaks TLS only, with a self-signed certificate made by ``openssl`` in ``workdir``, and
    ``url`` is a ``rediss://`` URL that trusts that certificate.
    """

    def __init__(self, workdir: Path, *, tls: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.password = secrets.token_hex(24)  # never starts with "--" on a command line
        self.tls_args: list[str] = []
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        if tls:
            cert, key = self._self_signed_certificate()
            self.tls_args = ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
            self.tls_args += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
            self.url = f"rediss://:{self.password}@127.0.0.1:{self.port}/0?ssl_ca_certs={cert}"
        self.process: subprocess.Popen[bytes] | None = None

    def _self_signed_certificate(self) -> tuple[Path, Path]:
        cert, key = self.workdir / "redis-cert.pem", self.workdir / "redis-key.pem"
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.fail("openssl is not installed")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return cert, key

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (make test installs it)")
        self.process = subprocess.Popen(
            [
                binary,
                *(["--port", "0", "--tls-port"] if self.tls_args else ["--port"]),
                str(self.port),
                *self.tls_args,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--requirepass",
                self.password,
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, 10, f"redis-server on port {self.port} did not start")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A schema of our own in the machine's PostgreSQL, dropped at the end of the session."""
    schema = f"linkfleet_test_{uuid.uuid4().hex[:8]}"
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}")
    yield schema
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Flask config for each backend: a fresh SQLite file, or our PostgreSQL schema."""
    if request.param == "sqlite":
        return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'linkfleet.db'}"}
    schema = request.getfixturevalue("postgres_schema")
    return {
        "SQLALCHEMY_DATABASE_URI": POSTGRES_URL,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
    }


@pytest.fixture
def app(redis_server: RedisServer, database_config: dict[str, Any]) -> Iterator[Flask]:
    """An app on real Redis and a real database (both backends), tables created fresh."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "REDIS_URL": redis_server.url,
            "REPLICA_NAME": "test-replica",
            **database_config,
        }
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    redis.Redis.from_url(redis_server.url).flushdb()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


# --- web helpers for the accounts and dashboard tests (CSRF stays enabled) -------------------

_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*\svalue="([^"]+)"')
DEFAULT_TEST_PASSWORD = "correct horse battery"


class WebHelper:
    """Drives the HTML forms like a browser: fetch the form, take its CSRF token, post."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    @staticmethod
    def csrf_from(html: str) -> str:
        match = _CSRF_INPUT.search(html)
        assert match, "no csrf_token field in the page"
        return match.group(1)

    def csrf(self, client: FlaskClient, path: str) -> str:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return self.csrf_from(response.get_data(as_text=True))

    def submit(
        self,
        client: FlaskClient,
        path: str,
        data: dict[str, Any],
        *,
        form_path: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """POST ``data`` to ``path`` with the CSRF token of the form at ``form_path``."""
        token = self.csrf(client, form_path or path)
        return client.post(path, data={"csrf_token": token, **data}, **kwargs)

    def create_user(
        self, email: str, password: str = DEFAULT_TEST_PASSWORD, *, admin: bool = False
    ) -> int:
        with self.app.app_context():
            return create_account(email, password, is_admin=admin).id

    def log_in(self, client: FlaskClient, email: str, password: str = DEFAULT_TEST_PASSWORD) -> Any:
        response = self.submit(client, "/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@pytest.fixture
def web(app: Flask) -> WebHelper:
    return WebHelper(app)


_ENGINES_IN_USE: weakref.WeakSet[Engine] = weakref.WeakSet()


@event.listens_for(Engine, "engine_connect")
def _remember_engine(connection: Connection) -> None:
    _ENGINES_IN_USE.add(connection.engine)


@pytest.fixture(autouse=True)
def _close_pooled_connections() -> Iterator[None]:
    """Close the pooled connections of every engine a test used, when the test ends.

    Apps built inside tests (two "replicas", outage scenarios) keep pooled PostgreSQL
    connections; once such an app is garbage-collected, psycopg reports each one as leaked
    (a ResourceWarning, an error under ``filterwarnings = error``). Disposing keeps the
    engine usable: the next checkout simply opens a new connection.
    """
    yield
    for engine in list(_ENGINES_IN_USE):
        engine.dispose()
    _ENGINES_IN_USE.clear()
