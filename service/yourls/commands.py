"""``linkfleet yourls token EMAIL KEY_ID``: the token a YOURLS client signs timestamps with.

A plain ``signature`` is the API key itself; a time-limited one is ``md5(timestamp +
token)``, and the server only stores a hash of the key, so the token is derived from that
hash (see :func:`.auth.signature_token`) and printed here for the key's owner.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..accounts.services import AccountError, find_user, normalise_email
from ..api.keys import keys_of
from .auth import signature_token

yourls_cli = AppGroup("yourls", help="The YOURLS API (/yourls-api.php).")


@yourls_cli.command("token")
@click.argument("email")
@click.argument("key_id", type=int)
def token_command(email: str, key_id: int) -> None:
    """Print the YOURLS signature token of EMAIL's active key KEY_ID (`linkfleet apikey list`)."""
    try:
        user = find_user(normalise_email(email))
    except AccountError as error:
        raise click.ClickException(error.message) from None
    key = next((key for key in keys_of(user.id) if key.id == key_id), None) if user else None
    if key is None or not key.active:
        raise click.ClickException(f"{email} has no active key {key_id}.")
    click.echo(signature_token(key))
