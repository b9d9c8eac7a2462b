"""``linkfleet user …``: manage accounts from the shell."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError, ProgrammingError

from .services import AccountError, check_password_strength, create_user, normalise_email

user_cli = AppGroup("user", help="Manage user accounts.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.ClickException("no password on standard input")
        return line.rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user_cli.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator (sees every link).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
def create_user_command(email: str, admin: bool, password_stdin: bool) -> None:
    """Create the account EMAIL; the password is prompted for twice (hidden)."""
    try:
        address = normalise_email(email)  # fail before asking for a password
        password = _read_password(password_stdin)
        check_password_strength(password)
        user = create_user(address, password, is_admin=admin)
    except AccountError as error:
        raise click.ClickException(error.message) from None
    except (OperationalError, ProgrammingError) as error:
        reason = str(error.orig).splitlines()[0] if error.orig else type(error).__name__
        raise click.ClickException(
            f"the database is unreachable or not migrated (run `linkfleet db upgrade`): {reason}"
        ) from None
    role = "administrator" if user.is_admin else "user"
    click.echo(f"Created {role} {user.email}.")
