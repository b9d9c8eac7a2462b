"""SQLAlchemy 2 through Flask-SQLAlchemy, migrations through Flask-Migrate (Alembic).

Flask-Migrate is brought in by the first migration a process runs (:class:`Migrations`).

SQLite is the embedded default and runs in WAL mode so that the replicas' readers never
block on a writer; PostgreSQL is chosen with ``LINKFLEET_DATABASE_URL``.

Read replicas (``LINKFLEET_DATABASE_READ_URLS``): :func:`read_session` and :func:`run_read`
give read-only queries (stats, listings) a session on a replica, round robin, and fall back to
the primary when a replica cannot be reached; see :class:`ReadReplicas`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session

from .metrics import READ_QUERIES

logger = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")

# Stable constraint names, so that Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(DeclarativeBase):
    """Base of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Model)


class Migrations:
    """Flask-Migrate, registered on an app when a migration runs, not when the app is made.

    Alembic, with Mako and Pygments, takes 0.16 s to import: every replica, worker and
    ``linkfleet`` command paid it, and only ``linkfleet db`` and ``fleet up`` migrate. The
    ``db`` group is there from the start (``linkfleet --help`` lists it); its subcommands
    load Flask-Migrate's through :meth:`ready`.
    """

    #: Flask-Migrate's options: the package's migrations, batch mode for SQLite's ALTERs.
    options: dict[str, Any] = {"directory": MIGRATIONS_DIR, "render_as_batch": True}

    def init_app(self, app: Flask) -> None:
        app.cli.add_command(_MigrationCommands(self))

    def ready(self, app: Flask) -> None:
        """Flask-Migrate on ``app``, once: ``app.extensions["migrate"]`` is what its commands,
        ``flask_migrate.upgrade`` and the migrations' ``env.py`` read."""
        if "migrate" not in app.extensions:
            from flask_migrate import Migrate

            Migrate(app, db, **self.options)


class _MigrationCommands(click.Group):
    """``linkfleet db``: stands in for Flask-Migrate's group until it is invoked, then hands
    the invocation (its options, subcommands and ``--help``) to that group."""

    def __init__(self, migrations: Migrations) -> None:
        super().__init__("db", help="Perform database migrations (Flask-Migrate).")
        self.migrations = migrations

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        from flask_migrate.cli import db as flask_migrate_commands

        commands: click.Group = flask_migrate_commands
        script = (parent or click.get_current_context()).ensure_object(ScriptInfo)
        self.migrations.ready(script.load_app())
        return commands.make_context(info_name, args, parent=parent, **extra)


migrations = Migrations()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL for concurrent readers, a busy timeout instead of 'database is locked' errors."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_database(app: Flask) -> None:
    """Register Flask-SQLAlchemy and Flask-Migrate with engine options fit for the backend."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    options: dict[str, Any] = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        options.setdefault("connect_args", {"timeout": 5})
    else:
        options.setdefault("pool_pre_ping", True)
        options.setdefault("pool_size", 10)
        options.setdefault("connect_args", {"connect_timeout": 3})
    db.init_app(app)
    migrations.init_app(app)
    if url.get_backend_name() == "sqlite":
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    read_replicas.init_app(app)


class ReadReplicas:
    """Routes read-only queries to read replicas, falling back to the primary.

    Config keys read (defaults set in :meth:`init_app`):

    ``SQLALCHEMY_READ_URIS`` (``()``)
        SQLAlchemy URLs of the replicas (``LINKFLEET_DATABASE_READ_URLS``). Their engines
        use the primary's ``SQLALCHEMY_ENGINE_OPTIONS`` and are created on first use, in the
        process that uses them (after gunicorn's fork).
    ``READ_REPLICA_RETRY`` (5 s)
        How long a replica that failed is skipped before it is tried again.

    Sessions from :meth:`session` are read-only (PostgreSQL ``SET TRANSACTION READ ONLY``,
    on the primary too), separate from ``db.session`` and closed when the block ends: load
    what you need inside it. A replica may lag the primary by a moment, so use them for
    what may be a second stale (stats, listings), never to read back what was just written.
    """

    extension_name = "linkfleet.read_replicas"

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.extension_name in app.extensions:
            raise RuntimeError("ReadReplicas is already registered on this app")
        uris = tuple(app.config.setdefault("SQLALCHEMY_READ_URIS", ()))
        retry = float(app.config.setdefault("READ_REPLICA_RETRY", 5.0))
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        app.extensions[self.extension_name] = _ReplicaSet(uris, options, retry)

    @staticmethod
    def state(app: Flask) -> _ReplicaSet:
        return app.extensions[ReadReplicas.extension_name]  # type: ignore[no-any-return]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read-only session on a replica that answers, else on the primary."""
        state = self.state(current_app._get_current_object())  # type: ignore[attr-defined]
        session, _target = state.open(db.engine)
        try:
            yield session
        finally:
            session.close()

    def run(self, query: Callable[[Session], T]) -> T:
        """``query(session)`` on a replica; if the replica fails mid-query, once more on the
        primary. ``query`` must only read (it may run twice)."""
        state = self.state(current_app._get_current_object())  # type: ignore[attr-defined]
        session, target = state.open(db.engine)
        try:
            return query(session)
        except DBAPIError as error:
            if target is None:
                raise
            state.failed(target, error)
            session.close()
            READ_QUERIES.labels("fallback").inc()
            session = state.primary_session(db.engine)
            return query(session)
        finally:
            session.close()

    def engines(self, app: Flask) -> list[Engine]:
        """The replica engines created so far in this process (tests, diagnostics)."""
        return [replica.engine for replica in self.state(app).replicas if replica.engine]

    def dispose(self, app: Flask) -> None:
        """Close every replica connection of this process."""
        for engine in self.engines(app):
            engine.dispose()


class _Replica:
    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine: Engine | None = None
        #: ``time.monotonic()`` before which this replica is skipped after a failure.
        self.down_until = 0.0


class _ReplicaSet:
    """Per-app, per-process replica state: lazily built engines, round robin, back-off."""

    def __init__(self, uris: tuple[str, ...], options: dict[str, Any], retry: float) -> None:
        self.replicas = [_Replica(uri) for uri in uris]
        self.options = options
        self.retry = retry
        self.lock = threading.Lock()
        self.turn = 0

    def _engine(self, replica: _Replica) -> Engine:
        with self.lock:
            if replica.engine is None:
                replica.engine = create_engine(replica.uri, **self.options)
            return replica.engine

    def _candidates(self) -> list[_Replica]:
        now = time.monotonic()
        with self.lock:
            start = self.turn
            self.turn += 1
        count = len(self.replicas)
        ordered = [self.replicas[(start + i) % count] for i in range(count)]
        return [replica for replica in ordered if replica.down_until <= now]

    def failed(self, replica: _Replica, error: BaseException) -> None:
        replica.down_until = time.monotonic() + self.retry
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        logger.warning(
            "read replica %s failed (%s: %s); reading from the primary for %.0fs",
            make_url(replica.uri).render_as_string(hide_password=True),
            type(error).__name__,
            first_line,
            self.retry,
        )

    def open(self, primary: Engine) -> tuple[Session, _Replica | None]:
        """A connected read-only session and the replica it is on (None: the primary)."""
        for replica in self._candidates():
            session = _read_only_session(self._engine(replica))
            try:
                session.connection()  # connect now, so an unreachable replica fails here
            except DBAPIError as error:
                session.close()
                self.failed(replica, error)
                continue
            READ_QUERIES.labels("replica").inc()
            return session, replica
        READ_QUERIES.labels("primary" if not self.replicas else "fallback").inc()
        return self.primary_session(primary), None

    @staticmethod
    def primary_session(primary: Engine) -> Session:
        return _read_only_session(primary)


def _read_only_session(engine: Engine) -> Session:
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(postgresql_readonly=True)
    return Session(bind=engine, autoflush=False, expire_on_commit=False)


read_replicas = ReadReplicas()


def read_session() -> AbstractContextManager[Session]:
    """``with read_session() as session:`` a read-only session on a replica (else the
    primary) of the current app; see :class:`ReadReplicas`."""
    return read_replicas.session()


def run_read(query: Callable[[Session], T]) -> T:
    """Run a read-only ``query(session)`` on a replica, retried on the primary if the
    replica fails; see :meth:`ReadReplicas.run`."""
    return read_replicas.run(query)


__all__ = [
    "Model",
    "ReadReplicas",
    "db",
    "init_database",
    "migrations",
    "read_replicas",
    "read_session",
    "run_read",
]
