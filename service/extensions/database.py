"""SQLAlchemy 2 through Flask-SQLAlchemy, migrations through Flask-Migrate (Alembic).

SQLite is the embedded default and runs in WAL mode so that the replicas' readers never
block on a writer; PostgreSQL is chosen with ``LINKFLEET_DATABASE_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

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
migrate = Migrate(directory=MIGRATIONS_DIR, render_as_batch=True)


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
    migrate.init_app(app, db)
    if url.get_backend_name() == "sqlite":
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)


__all__ = ["Model", "db", "init_database", "migrate"]
