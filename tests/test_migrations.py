"""`linkfleet db upgrade` builds the schema on SQLite and PostgreSQL, and downgrades cleanly."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import MetaData, String, Table, cast, func, insert, inspect, select, text

from service.analytics.models import HourlyVisits, OrphanHourly
from service.extensions import db
from tests.fixtures.users import user_with_email

#: The revision before hours were normalised (branded domains).
BEFORE_TIME_FIX = "d7a2c9e4f1b3"


def link_of_the_time() -> int:
    """A link written into the ``links`` table as the current revision has it (the model may
    have columns a later migration adds), by its owner's id; returns the link's id."""
    owner_id = user_with_email("owner@example.com").id
    db.session.commit()
    with db.engine.begin() as connection:
        links = Table("links", MetaData(), autoload_with=connection)
        now = datetime.now(UTC)
        row = {"slug": "promo", "url": "https://example.org/", "title": "", "owner_id": owner_id}
        row |= {"redirect_type": 302, "disabled": False, "created_at": now, "updated_at": now}
        return int(connection.execute(insert(links).returning(links.c.id), row).scalar_one())


@pytest.fixture
def bare_database(app: Flask, runner: FlaskCliRunner) -> Iterator[None]:
    """The test's database without tables, for the migrations to build; afterwards, whatever
    the test did or where it failed, the tables the other tests' fixtures expect (on
    PostgreSQL the schema is the worker's for the whole session)."""
    with app.app_context():
        db.drop_all()  # the fixture made tables with create_all; start from nothing
        yield
        db.session.remove()
        runner.invoke(args=["db", "downgrade", "base"])
        db.drop_all()
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()


@pytest.mark.usefixtures("bare_database")
def test_upgrade_and_downgrade(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "links", "tags", "link_tags", "alembic_version"} <= tables
        result = runner.invoke(args=["db", "downgrade", "base"])
        assert result.exit_code == 0, result.output
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


@pytest.mark.usefixtures("bare_database")
def test_models_match_migrations(app: Flask, runner: FlaskCliRunner) -> None:
    """`db check` fails when a model changed without a migration."""
    with app.app_context():
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        result = runner.invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("bare_database")
def test_hours_are_rewritten_to_the_orms_text_and_colliding_rows_merged(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """SQLite rows the worker wrote as ``…+00:00`` become the ORM's ``….000000``; where that
    text already had a row (the same hour written both ways), the visits are added to it.
    PostgreSQL stores timestamps, which the migration leaves alone."""
    with app.app_context():
        assert runner.invoke(args=["db", "upgrade", BEFORE_TIME_FIX]).exit_code == 0
        link_id = link_of_the_time()
        sqlite = db.engine.dialect.name == "sqlite"
        # (hour as stored, visits, bot visits): 20:00 both ways on SQLite, 21:00 the old way.
        hours = [("2026-05-28 20:00:00+00:00", 3, 1), ("2026-05-28 21:00:00+00:00", 1, 0)]
        if sqlite:
            hours.append(("2026-05-28 20:00:00.000000", 2, 0))
        with db.engine.begin() as connection:
            for hour, visits, bots in hours:
                connection.execute(
                    text(
                        "INSERT INTO analytics_hourly (link_id, hour, visits, bot_visits) "
                        "VALUES (:link, :hour, :visits, :bots)"
                    ),
                    {"link": link_id, "hour": hour, "visits": visits, "bots": bots},
                )
                connection.execute(
                    text(
                        "INSERT INTO analytics_orphan_hourly (hour, type, host, referrer_host, "
                        "visits, bot_visits) VALUES (:hour, 'regular_404', '', '', :visits, :bots)"
                    ),
                    {"hour": hour, "visits": visits, "bots": bots},
                )
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        hourly = db.session.execute(
            select(HourlyVisits.hour, HourlyVisits.visits, HourlyVisits.bot_visits).order_by(
                HourlyVisits.hour
            )
        ).all()
        orphans = db.session.execute(
            select(OrphanHourly.hour, OrphanHourly.visits, OrphanHourly.bot_visits).order_by(
                OrphanHourly.hour
            )
        ).all()
        twenty = datetime(2026, 5, 28, 20, tzinfo=UTC)
        expected = [(twenty, 5 if sqlite else 3, 1), (twenty + timedelta(hours=1), 1, 0)]
        assert [tuple(row) for row in hourly] == expected
        assert [tuple(row) for row in orphans] == expected
        # The ORM's own range query now finds the first hour.
        first = db.session.scalar(
            select(func.sum(HourlyVisits.visits)).where(HourlyVisits.hour >= twenty)
        )
        assert first == expected[0][1] + 1
        if sqlite:
            stored = db.session.scalars(select(cast(HourlyVisits.hour, String))).all()
            assert sorted(stored) == ["2026-05-28 20:00:00.000000", "2026-05-28 21:00:00.000000"]


@pytest.mark.usefixtures("bare_database")
def test_the_link_switches_arrive_off_and_every_row_stays(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """Adding (and dropping) ``crawlable`` and ``forward_query`` alters ``links`` in place: a
    copied-and-dropped table would take with it every row that cascades from a link."""
    with app.app_context():
        assert runner.invoke(args=["db", "upgrade", "5dc90a7dc01d"]).exit_code == 0
        link_id = link_of_the_time()
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO analytics_hourly (link_id, hour, visits, bot_visits) "
                    "VALUES (:link, :hour, 7, 0)"
                ),
                {"link": link_id, "hour": datetime(2026, 5, 28, 20, tzinfo=UTC)},
            )
        for target in ("head", "5dc90a7dc01d", "head"):
            result = runner.invoke(
                args=["db", "upgrade" if target == "head" else "downgrade", target]
            )
            assert result.exit_code == 0, result.output
            db.session.remove()
            assert db.session.scalar(select(func.sum(HourlyVisits.visits))) == 7, target
        flags = db.session.execute(text("SELECT crawlable, forward_query FROM links")).one()
        assert tuple(map(bool, flags)) == (False, False)


#: The first revision with the tables that hang off a link (tags and visit counts).
FIRST_WITH_VISITS = "9e17fc7a8ef3"


@pytest.mark.usefixtures("bare_database")
def test_every_step_up_and_down_keeps_what_hangs_off_a_link(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """One revision at a time to the head and back: on SQLite a step that rebuilds ``links``
    (Alembic's batch mode copies it and drops the old table) must not cascade that drop into
    the link's tags and visit counts."""
    with app.app_context():
        assert runner.invoke(args=["db", "upgrade", FIRST_WITH_VISITS]).exit_code == 0
        link_id = link_of_the_time()
        with db.engine.begin() as connection:
            tag_id = connection.execute(
                text("INSERT INTO tags (name) VALUES ('kept') RETURNING id")
            ).scalar_one()
            connection.execute(
                text("INSERT INTO link_tags (link_id, tag_id) VALUES (:link, :tag)"),
                {"link": link_id, "tag": tag_id},
            )
            connection.execute(
                text(
                    "INSERT INTO analytics_hourly (link_id, hour, visits, bot_visits) "
                    "VALUES (:link, :hour, 7, 0)"
                ),
                {"link": link_id, "hour": datetime(2026, 5, 28, 20, tzinfo=UTC)},
            )
        for direction in ("upgrade", "downgrade"):
            while True:
                before = db.session.scalar(text("SELECT version_num FROM alembic_version"))
                if direction == "downgrade" and before == FIRST_WITH_VISITS:
                    break
                # ``db downgrade`` with no revision goes one step down
                result = runner.invoke(
                    args=["db", direction, *(["+1"] if direction == "upgrade" else [])]
                )
                db.session.remove()
                after = db.session.scalar(text("SELECT version_num FROM alembic_version"))
                if direction == "upgrade" and (result.exit_code != 0 or after == before):
                    break  # past the head
                assert result.exit_code == 0, result.output
                kept = (
                    db.session.scalar(text("SELECT count(*) FROM link_tags")),
                    db.session.scalar(text("SELECT sum(visits) FROM analytics_hourly")),
                )
                assert kept == (1, 7), f"{direction} {before} -> {after}"


def test_only_a_migration_imports_flask_migrate(tmp_path: Path) -> None:
    """An app made for a replica, the worker or any other command never imports Flask-Migrate
    and Alembic (0.16 s each time); ``linkfleet db`` still takes its options and migrates."""
    config = {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a.db"}
    probe = (
        f"import sys; from service import create_app; create_app({config!r}); "
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'alembic', 'flask_migrate'}))"
    )
    made = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert made.stdout.strip() == "[]", made.stderr
    upgraded = subprocess.run(
        [str(Path(sys.executable).parent / "linkfleet"), "db", "-x", "unused=1", "upgrade"],
        env={**os.environ, "LINKFLEET_RUN_DIR": str(tmp_path / "run")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    with sqlite3.connect(tmp_path / "run" / "linkfleet.db") as migrated:
        assert migrated.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
