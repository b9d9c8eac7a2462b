"""``linkfleet apikey …``: API keys from the shell. ``create`` prints only the key on stdout,
so that ``KEY=$(linkfleet apikey create you@example.com --name ci)`` just works."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..accounts.services import AccountError, find_user, normalise_email
from .keys import ApiKeyError, create_api_key, keys_of, revoke
from .models import SCOPES

apikey_cli = AppGroup("apikey", help="Manage API keys.")


def _user_id(email: str) -> int:
    try:
        address = normalise_email(email)
    except AccountError as error:
        raise click.ClickException(error.message) from None
    user = find_user(address)
    if user is None:
        raise click.ClickException(
            f"No account for {address} (create it with `linkfleet user create`)."
        )
    return int(user.id)


@apikey_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the key is for, e.g. the program using it.")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default="write",
    show_default=True,
    help="read: GET only; write: also create, change, delete and import.",
)
def create_command(email: str, name: str, scope: str) -> None:
    """Create an API key for EMAIL and print it (shown this once; only a hash is stored)."""
    try:
        _, key = create_api_key(_user_id(email), name, scope)
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(key)


@apikey_cli.command("list")
@click.argument("email")
def list_command(email: str) -> None:
    """List EMAIL's keys: id, prefix, scope, name, created, last used, revoked."""
    for key in keys_of(_user_id(email)):
        used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        click.echo(
            f"{key.id}\t{key.display}\t{key.scope}\t{key.name}\t"
            f"{key.created_at.isoformat(timespec='seconds')}\t{used}\t{state}"
        )


@apikey_cli.command("revoke")
@click.argument("email")
@click.argument("key_id", type=int)
def revoke_command(email: str, key_id: int) -> None:
    """Revoke EMAIL's key KEY_ID (see `linkfleet apikey list`)."""
    if revoke(_user_id(email), key_id) is None:
        raise click.ClickException(f"{email} has no key {key_id}.")
    click.echo(f"Revoked key {key_id}.", err=True)
