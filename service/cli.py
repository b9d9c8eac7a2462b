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

from .config import ConfigError, FleetSettings, default_run_dir
from .fleet.commands import fleet


def _create_cli_app() -> Flask:
    """The app with the local fleet's settings (``.run/linkfleet.env``) under the caller's env.

    Only app-bound commands load it, so ``fleet`` commands never mistake the fleet's own
    settings (such as its Redis URL) for the caller's choices.
    """
    from . import create_app
    from .fleet.spec import secret_key

    run_dir = default_run_dir()
    load_dotenv(run_dir / "linkfleet.env", override=False)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        configured = FleetSettings.from_env().secret_key
        return create_app({"SECRET_KEY": secret_key(run_dir, configured)})
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


@click.group(
    cls=FlaskGroup,
    create_app=_create_cli_app,
    add_default_commands=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def cli() -> None:
    """LinkFleet: run and manage a fleet of short-link replicas."""


cli.add_command(fleet)


def main() -> None:
    """Entry point of the ``linkfleet`` console script."""
    try:
        cli.main(prog_name="linkfleet")
    except ConfigError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
