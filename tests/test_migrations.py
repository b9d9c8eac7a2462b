"""`linkfleet db upgrade` builds the schema on SQLite and PostgreSQL, and downgrades cleanly."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import inspect

from service.extensions import db


def test_upgrade_and_downgrade(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        db.drop_all()  # the fixture made tables with create_all; start from nothing
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "links", "tags", "link_tags", "alembic_version"} <= tables
        result = runner.invoke(args=["db", "downgrade", "base"])
        assert result.exit_code == 0, result.output
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.drop_all()
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()  # leave what the fixture's teardown expects


def test_models_match_migrations(app: Flask, runner: FlaskCliRunner) -> None:
    """`db check` fails when a model changed without a migration."""
    with app.app_context():
        db.drop_all()
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        result = runner.invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output
        runner.invoke(args=["db", "downgrade", "base"])
        db.session.execute(db.text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()
