"""Read replicas: read-only queries go to a real PostgreSQL streaming replica, and fall back
to the primary when it fails.

The replica is made by the ``streaming_replica`` fixture with ``pg_basebackup`` from the
machine's PostgreSQL (127.0.0.1:5432) into a temp dir and started with ``pg_ctl`` as the
``postgres`` OS user on a free port; the fixture stops it and removes the directory at the end.
It fails (never skips) when the primary does not allow replication.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from psycopg.errors import UndefinedTable
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InternalError, ProgrammingError
from sqlalchemy.orm import Session

from service import create_app
from service.accounts.models import User
from service.config import ConfigError, Settings
from service.extensions import db
from service.extensions.database import read_replicas, read_session, run_read
from service.extensions.metrics import READ_QUERIES
from service.links.models import Link
from tests.fixtures.services import POSTGRES_URL, RedisServer, free_port, wait_until

PRIMARY = make_url(POSTGRES_URL)


def counted(target: str) -> float:
    return READ_QUERIES.labels(target)._value.get()  # type: ignore[no-any-return]


# --- without PostgreSQL: configuration and the fallback rules -----------------------------


def test_read_urls_are_parsed_validated_and_pinned_to_psycopg() -> None:
    settings = Settings.from_env(
        {"LINKFLEET_DATABASE_READ_URLS": " postgresql://r1/db , postgresql://r2:5433/db ,"}
    )
    assert settings.to_flask()["SQLALCHEMY_READ_URIS"] == (
        "postgresql+psycopg://r1/db",
        "postgresql+psycopg://r2:5433/db",
    )
    assert Settings.from_env({}).to_flask()["SQLALCHEMY_READ_URIS"] == ()
    with pytest.raises(ConfigError, match="LINKFLEET_DATABASE_READ_URLS"):
        Settings.from_env({"LINKFLEET_DATABASE_READ_URLS": "mysql://x/y"})


def make_app(
    redis_server: RedisServer, primary: str, reads: tuple[str, ...], **extra: Any
) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "REDIS_URL": redis_server.url,
            "SQLALCHEMY_DATABASE_URI": primary,
            "SQLALCHEMY_READ_URIS": reads,
            **extra,
        }
    )


def test_without_replicas_reads_use_the_primary(redis_server: RedisServer, tmp_path: Path) -> None:
    app = make_app(redis_server, f"sqlite:///{tmp_path / 'primary.db'}", ())
    with app.app_context():
        db.create_all()
        before = counted("primary")
        with read_session() as session:
            assert session.scalar(select(func.count()).select_from(Link)) == 0
        assert counted("primary") == before + 1
        db.engine.dispose()


def test_an_unreachable_replica_falls_back_to_the_primary_and_is_skipped(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "replica.db"  # SQLite cannot open it
    app = make_app(
        redis_server,
        f"sqlite:///{tmp_path / 'primary.db'}",
        (f"sqlite:///{missing}",),
        READ_REPLICA_RETRY=60,
    )
    with app.app_context():
        db.create_all()
        before = counted("fallback")
        with read_session() as session:
            assert session.scalar(select(func.count()).select_from(Link)) == 0
        with read_session() as session:
            session.execute(text("SELECT 1"))
        assert counted("fallback") == before + 2
        (replica,) = read_replicas.state(app).replicas
        assert replica.down_until > time.monotonic() + 50  # skipped for READ_REPLICA_RETRY
        db.engine.dispose()
        read_replicas.dispose(app)


# --- a real streaming replica -------------------------------------------------------------


@dataclass
class Replica:
    directory: Path
    port: int
    bin_dir: Path

    @property
    def url(self) -> str:
        return PRIMARY.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.directory),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> None:
        result = self.pg_ctl("-l", str(self.directory / "server.log"), "-w", "-t", "60", "start")
        if result.returncode != 0:
            log = (self.directory / "server.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"the replica did not start: {result.stderr}\n{log}")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def answers(self) -> bool:
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return bool(connection.scalar(text("SELECT pg_is_in_recovery()")))
        except DBAPIError:
            return False
        finally:
            engine.dispose()


def _primary_setting(connection: Any, name: str) -> str:
    return str(connection.exec_driver_sql(f"SHOW {name}").scalar())


REPLICATION_RULE = "host replication postgres 127.0.0.1/32 trust  # linkfleet read-replica test"


@contextmanager
def replication_allowed() -> Iterator[None]:
    """Let pg_basebackup and the standby connect for replication from 127.0.0.1 (a rule in
    the primary's pg_hba.conf and a reload, no restart), and take the rule out afterwards."""
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            hba = Path(str(connection.exec_driver_sql("SHOW hba_file").scalar()))
            original = hba.read_text()
            added = REPLICATION_RULE not in original
            if added:
                hba.write_text(original.rstrip("\n") + "\n" + REPLICATION_RULE + "\n")
                connection.exec_driver_sql("SELECT pg_reload_conf()")
        yield
    finally:
        if added:
            hba.write_text(original)
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT pg_reload_conf()")
        engine.dispose()


@pytest.fixture(scope="module")
def streaming_replica() -> Iterator[Replica]:
    """A hot standby of the machine's PostgreSQL, streaming from it, on a free port."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.fail("the replica test runs pg_ctl as the postgres OS user: run it as root")
    primary = create_engine(POSTGRES_URL)
    try:
        with primary.connect() as connection:
            settings = {
                name: _primary_setting(connection, name)
                for name in (
                    "wal_level",
                    "max_wal_senders",
                    "server_version_num",
                    "max_connections",
                    "max_worker_processes",
                    "max_prepared_transactions",
                    "max_locks_per_transaction",
                )
            }
    except DBAPIError as error:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}")
    finally:
        primary.dispose()
    if settings["wal_level"] not in {"replica", "logical"} or int(settings["max_wal_senders"]) < 1:
        pytest.fail(
            f"the primary cannot stream to a replica: {settings} "
            "(needs wal_level=replica and max_wal_senders > 0; both are defaults)"
        )
    bin_dir = Path(f"/usr/lib/postgresql/{int(settings['server_version_num']) // 10000}/bin")
    directory = Path(tempfile.mkdtemp(prefix="linkfleet-replica-"))
    shutil.chown(directory, "postgres", "postgres")
    directory.chmod(0o700)
    replica = Replica(directory, free_port(), bin_dir)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, directory, ignore_errors=True)
        cleanup.enter_context(replication_allowed())
        cleanup.callback(replica.stop)
        backup = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(bin_dir / "pg_basebackup"),
                "-h",
                PRIMARY.host or "127.0.0.1",
                "-p",
                str(PRIMARY.port or 5432),
                "-U",
                PRIMARY.username or "postgres",
                "-D",
                str(directory),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-password",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if backup.returncode != 0:
            pytest.fail(
                "pg_basebackup failed (the primary's pg_hba.conf must allow replication "
                f"connections from 127.0.0.1):\n{backup.stderr}"
            )
        # Debian keeps postgresql.conf and pg_hba.conf outside the data directory.
        standby_limits = "\n".join(
            f"{name} = {settings[name]}"
            for name in (
                "max_connections",
                "max_worker_processes",
                "max_prepared_transactions",
                "max_locks_per_transaction",
            )
        )
        (directory / "postgresql.conf").write_text(
            f"port = {replica.port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{directory}'\n"
            "hot_standby = on\n"
            f"max_wal_senders = {settings['max_wal_senders']}\n"
            f"{standby_limits}\n"
        )
        (directory / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )
        for name in ("postgresql.conf", "pg_hba.conf"):
            shutil.chown(directory / name, "postgres", "postgres")
        replica.start()
        wait_until(replica.answers, 60, "the replica never accepted read-only connections")
        yield replica


@pytest.fixture
def replicated_app(
    streaming_replica: Replica, redis_server: RedisServer
) -> Iterator[tuple[Flask, Replica]]:
    """An app on the primary (a schema of its own) with the streaming replica for reads."""
    schema = f"linkfleet_replica_{uuid.uuid4().hex[:8]}"
    options = {"connect_args": {"options": f"-csearch_path={schema}", "connect_timeout": 3}}
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    app = make_app(
        redis_server,
        POSTGRES_URL,
        (streaming_replica.url,),
        SQLALCHEMY_ENGINE_OPTIONS=options,
        READ_REPLICA_RETRY=1.0,
    )
    with app.app_context():
        db.create_all()
    yield app, streaming_replica
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        read_replicas.dispose(app)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    redis.Redis.from_url(redis_server.url).flushdb()


def where(session: Session) -> tuple[bool, int]:
    """(in recovery, i.e. a standby?, the server's port) of the session's connection."""
    row = session.execute(text("SELECT pg_is_in_recovery(), inet_server_port()")).one()
    return bool(row[0]), int(row[1])


def add_link(slug: str) -> None:
    user = db.session.scalar(select(User).where(User.email == "reader@example.org"))
    if user is None:
        user = User(email="reader@example.org", password_hash="x")
        db.session.add(user)
        db.session.flush()
    db.session.add(Link(slug=slug, url=f"https://example.org/{slug}", owner_id=user.id))
    db.session.commit()


def visible_on_replica(slug: str) -> bool:
    """The row replayed on the standby; False too while the standby has not yet replayed
    the tables themselves (a fresh module's first test: "relation does not exist")."""
    try:
        with read_session() as session:
            return session.scalar(select(Link.url).where(Link.slug == slug)) is not None
    except ProgrammingError as error:
        if isinstance(error.orig, UndefinedTable):
            return False
        raise


@pytest.mark.integration
def test_reads_go_to_the_streaming_replica(replicated_app: tuple[Flask, Replica]) -> None:
    app, replica = replicated_app
    with app.app_context():
        add_link("replicated")
        # Streaming replication is asynchronous: the row shows up on the standby shortly.
        wait_until(lambda: visible_on_replica("replicated"), 10, "the row never replicated")
        before = counted("replica")
        with read_session() as session:
            assert where(session) == (True, replica.port)
            links = session.scalars(select(Link).order_by(Link.slug)).all()
            assert [link.url for link in links] == ["https://example.org/replicated"]
        assert counted("replica") == before + 1
        assert run_read(lambda session: where(session)) == (True, replica.port)


@pytest.mark.integration
def test_read_sessions_refuse_writes_on_the_replica_and_on_the_primary(
    replicated_app: tuple[Flask, Replica], tmp_path: Path
) -> None:
    app, replica = replicated_app
    with app.app_context():
        add_link("guarded")
        # Replayed on the standby first: before that its schema has no tables (no
        # "read-only" error to see, only "relation does not exist").
        wait_until(lambda: visible_on_replica("guarded"), 10, "the standby never replayed it")
        with read_session() as session, pytest.raises(InternalError, match="read-only"):
            session.execute(text("DELETE FROM links"))
        replica.stop()
        try:
            with read_session() as session:
                assert where(session)[0] is False  # the primary, still read-only
                with pytest.raises(InternalError, match="read-only"):
                    session.execute(text("DELETE FROM links"))
        finally:
            replica.start()
        assert db.session.scalar(select(func.count()).select_from(Link)) == 1


@pytest.mark.integration
def test_a_stopped_replica_falls_back_to_the_primary_and_comes_back(
    replicated_app: tuple[Flask, Replica],
) -> None:
    app, replica = replicated_app
    with app.app_context():
        add_link("before-outage")
        replica.stop()
        try:
            before = counted("fallback")
            for _ in range(3):  # no error reaches the caller while the replica is down
                with read_session() as session:
                    assert where(session) == (False, PRIMARY.port or 5432)
                    assert session.scalar(select(Link.slug)) == "before-outage"
            assert counted("fallback") == before + 3
        finally:
            replica.start()
        wait_until(replica.answers, 60, "the replica did not come back")

        def on_replica() -> bool:
            with read_session() as session:
                return where(session)[0]

        # Skipped for READ_REPLICA_RETRY (1 s) after the failure, then used again.
        wait_until(on_replica, 15, "reads never returned to the replica")


@pytest.mark.integration
def test_a_replica_failing_mid_query_is_retried_on_the_primary(
    replicated_app: tuple[Flask, Replica],
) -> None:
    app, replica = replicated_app
    calls: list[tuple[bool, int]] = []

    def query(session: Session) -> int:
        standby, port = where(session)
        calls.append((standby, port))
        if standby:  # the replica's backend dies under the query, as in a crash
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return port

    with app.app_context():
        before = counted("fallback")
        assert run_read(query) == (PRIMARY.port or 5432)
        assert calls == [(True, replica.port), (False, PRIMARY.port or 5432)]
        assert counted("fallback") == before + 1
        # The replica is skipped for READ_REPLICA_RETRY, then read from again.
        wait_until(lambda: run_read(lambda s: where(s)[0]), 15, "the replica was not reused")
