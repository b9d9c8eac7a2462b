"""``linkfleet fleet up|down|status|scale`` (what ``make up/down/status/scale`` run)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from ..config import ConfigError, FleetSettings, default_run_dir
from . import control
from .spec import FleetError

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(command: F) -> F:
    """Show fleet and config errors as one line and exit 1, never as a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (FleetError, ConfigError) as error:
            raise click.ClickException(str(error)) from None

    return wrapper  # type: ignore[return-value]


@click.group()
def fleet() -> None:
    """Run the local fleet: nginx + N replicas + Redis under supervisord, state in .run/."""


@fleet.command()
@click.option(
    "--replicas",
    "-n",
    type=click.IntRange(1, 64),
    default=None,
    help="Number of replicas (default 2; a running fleet keeps its count).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="nginx port (default 8080 or LINKFLEET_PORT).",
)
@_one_line_errors
def up(replicas: int | None, port: int | None) -> None:
    """Start the fleet and wait until /readyz is green through nginx."""
    spec = control.up(default_run_dir(), replicas, port, click.echo, FleetSettings.from_env())
    click.echo(f"\nLinkFleet is up at {spec.url}/ with {len(spec.replicas)} replicas:")
    for name, replica_port in spec.replicas.items():
        click.echo(f"  {name}  http://127.0.0.1:{replica_port}")
    click.echo(f"Logs and state: {spec.run_dir}   Stop with: make down")


@fleet.command()
@_one_line_errors
def down() -> None:
    """Stop everything `fleet up` started."""
    control.down(default_run_dir(), click.echo)


@fleet.command()
@_one_line_errors
def status() -> None:
    """A table of the fleet's processes: pid, port, health."""
    rows = control.status(default_run_dir())
    columns = ["name", "state", "pid", "port", "health", "uptime"]
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo("  ".join(row[c].ljust(widths[c]) for c in columns))


@fleet.command()
@click.argument("replicas", type=click.IntRange(1, 64))
@_one_line_errors
def scale(replicas: int) -> None:
    """Add or remove replicas live, without failing a request."""
    control.scale(default_run_dir(), replicas, click.echo, FleetSettings.from_env())


@fleet.command()
@_one_line_errors
def restart() -> None:
    """Rolling restart, one replica at a time, without failing a request."""
    control.restart(default_run_dir(), click.echo, FleetSettings.from_env())
