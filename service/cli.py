"""The ``linkfleet`` command: Flask's CLI plus fleet control.

App-bound commands (``db``, later ``user``, ``apikey``, ``worker``) build the app with the
settings of the local fleet in ``.run/`` unless ``LINKFLEET_*`` variables say otherwise;
``fleet`` commands need no app at all.
"""

from __future__ import annotations

import sys

import click
from dotenv import load_dotenv
from flask import Flask
from flask.cli import FlaskGroup

from .config import ConfigError, default_run_dir


def register_app_commands(app: Flask) -> None:
    """Commands that need an app; Flask-Migrate already added ``db``."""


def _create_cli_app() -> Flask:
    from . import create_app

    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group(cls=FlaskGroup, create_app=_create_cli_app, add_default_commands=False,
             load_dotenv=False, set_debug_flag=False)
def cli() -> None:
    """LinkFleet: run and manage a fleet of short-link replicas."""


def _register_fleet_commands() -> None:
    from .fleet.commands import fleet

    cli.add_command(fleet)


def main() -> None:
    """Entry point: read the local fleet's settings from ``.run/linkfleet.env`` first."""
    load_dotenv(default_run_dir() / "linkfleet.env", override=False)
    _register_fleet_commands()
    try:
        cli.main(prog_name="linkfleet")
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
