"""``linkfleet domains …``: the branded domains from the shell (add, list, set-redirects,
remove). Errors are one line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from flask.cli import AppGroup

from ..extensions import db
from ..links.errors import LinkError
from . import services

domains_cli = AppGroup("domains", help="Manage the branded domains short links live on.")
T = TypeVar("T")

_FALLBACK_OPTIONS = (
    ("--root-redirect", "root_redirect", "Where / on the domain leads."),
    ("--not-found-redirect", "not_found_redirect", "Where an unknown short name leads."),
    ("--expired-redirect", "expired_redirect", "Where an expired/used-up/disabled link leads."),
)


def _fallback_options(command: Callable[..., T]) -> Callable[..., T]:
    for flag, name, help_text in reversed(_FALLBACK_OPTIONS):
        command = click.option(flag, name, default=None, help=f"{help_text} Empty: none.")(command)
    return command


@contextmanager
def _clear_errors() -> Iterator[None]:
    try:
        yield
    except LinkError as error:
        db.session.rollback()
        raise click.ClickException(" ".join(error.errors.values())) from None


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


@domains_cli.command("add")
@click.argument("host")
@_fallback_options
def add_command(host: str, **fallbacks: str | None) -> None:
    """Add the domain HOST (go.example.com or go.example.com:8443; IDN allowed)."""
    with _clear_errors():
        domain = services.add_domain(host, **_given(fallbacks))
    click.echo(domain.host)


@domains_cli.command("list")
def list_command() -> None:
    """List the domains: host, links, root, not-found and expired redirects (- for none)."""
    for domain in services.list_domains():
        redirects = [getattr(domain, name) or "-" for name in services.FALLBACKS]
        click.echo("\t".join([domain.host, str(services.link_count(domain)), *redirects]))


@domains_cli.command("set-redirects")
@click.argument("host")
@_fallback_options
def set_redirects_command(host: str, **fallbacks: str | None) -> None:
    """Change HOST's fallback redirects (only the options given; "" removes one)."""
    changes = _given(fallbacks)
    if not changes:
        raise click.UsageError("Give at least one of the redirect options.")
    with _clear_errors():
        services.set_redirects(services.get_domain(host), **changes)
    click.echo(f"Saved {host}.", err=True)


@domains_cli.command("remove")
@click.argument("host")
def remove_command(host: str) -> None:
    """Remove the domain HOST; refused while links live on it."""
    with _clear_errors():
        services.remove_domain(services.get_domain(host))
    click.echo(f"Removed {host}.", err=True)
