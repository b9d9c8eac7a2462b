"""``linkfleet migrate yourls|kutt|shlink --url URL --owner EMAIL ...``: every link of a peer
shortener, pulled through its API into one LinkFleet account (docs/MIGRATING.md).

A re-run is safe: links already imported are skipped, so a run that stopped (the peer went
away, a 5xx) is resumed by running the same command again; ``--start`` skips what the report
says was read. The exit status is 1 when the run stopped early.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ..accounts.services import AccountError, find_user, normalise_email
from .fetch import PeerError, check_peer_url
from .peers import Peer
from .runner import MigrationReport, run_migration

migrate_cli = AppGroup(
    "migrate",
    help="""Move every link of a YOURLS, Kutt or Shlink instance here, through its API.

    Links already imported (same short name and URL) are skipped, a short name taken by
    another URL is reported as a conflict and never overwritten, so a run that stopped is
    resumed by running it again. Guide: docs/MIGRATING.md.

    \b
    Examples:
      linkfleet migrate kutt --url https://kutt.example --owner me@example.com --api-key KEY
      linkfleet migrate shlink --url https://s.example --owner me@example.com --api-key KEY
      linkfleet migrate yourls --url https://y.example --owner me@example.com --signature TOKEN
    """,
)

_COMMON = [
    click.option("--url", "url", required=True, help="The peer's base URL (https://...)."),
    click.option(
        "--owner", required=True, help="Email of the LinkFleet account that gets the links."
    ),
    click.option("--start", type=click.IntRange(min=0), default=0, help="Skip this many links."),
    click.option(
        "--page-size", type=click.IntRange(min=1, max=5000), default=None, help="Links per request."
    ),
]


def _common(function: Any) -> Any:
    for option in reversed(_COMMON):
        function = option(function)
    return function


def _run(peer: Peer, owner_email: str, start: int) -> None:
    """Check the owner and the URL, migrate with a progress bar, print the report."""
    try:
        owner = find_user(normalise_email(owner_email))
    except AccountError as error:
        raise click.ClickException(error.message) from None
    if owner is None:
        raise click.ClickException(f"There is no LinkFleet account {owner_email}.")
    peer.allow_private = bool(current_app.config["WEBHOOKS_ALLOW_PRIVATE"])
    try:
        check_peer_url(peer.url, allow_private=peer.allow_private)
    except PeerError as error:
        raise click.ClickException(str(error)) from None
    bar: Any = None

    def progress(report: MigrationReport, count: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(
                length=max(report.total or 0, report.position),
                label=f"Migrating from {peer.kind}",
                show_pos=True,
                file=sys.stderr,
            )
            bar.__enter__()
            bar.update(report.position - count)
        bar.length = max(bar.length or 0, report.total or 0, report.position)
        bar.update(count)

    try:
        report = run_migration(owner, peer, start=start, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(format_report(report))
    if not report.complete:
        raise click.exceptions.Exit(1)


def format_report(report: MigrationReport) -> str:
    """The final report: counts, then each conflict and failure with its reason."""
    lines = [
        f"Peer: {report.peer}; links read: {report.position}"
        + (f" of {report.total}" if report.total is not None else ""),
        f"Imported: {report.imported}",
        f"Skipped (already imported): {report.skipped}",
        f"Conflicts: {report.conflict_count}",
        f"Failed: {report.failed_count}",
    ]
    lines += [f"  conflict {entry['slug']}: {entry['reason']}" for entry in report.conflicts]
    lines += [f"  failed {entry['slug'] or '?'}: {entry['reason']}" for entry in report.failed]
    if report.stopped:
        lines.append(f"Incomplete: {report.stopped}")
        lines.append("Run the same command again to resume: imported links are skipped.")
    else:
        lines.append("Complete.")
    return "\n".join(lines)


@migrate_cli.command("yourls")
@_common
@click.option("--signature", default="", help="The YOURLS signature token (or an API key).")
@click.option("--username", default="", help="A YOURLS user (with --password).")
@click.option("--password", default="", help="That user's password (prompted when missing).")
def yourls_command(
    url: str,
    owner: str,
    start: int,
    page_size: int | None,
    signature: str,
    username: str,
    password: str,
) -> None:
    """Every link of a YOURLS instance: keyword, URL, title, date, clicks.

    YOURLS has no paged list of every link; its action=stats is read newest first in
    windows of --page-size from `start` (YOURLS 1.7 and later)."""
    if not signature and not username:
        raise click.UsageError("Give --signature, or --username and --password.")
    if username and not password:
        password = click.prompt("YOURLS password", hide_input=True)
    peer = Peer(
        "yourls",
        url,
        signature=signature,
        username=username,
        password=password,
        page_size=page_size or 0,
    )
    _run(peer, owner, start)


@migrate_cli.command("kutt")
@_common
@click.option("--api-key", required=True, help="A Kutt API key (Settings > API).")
@click.option("--all", "every_user", is_flag=True, help="Every user's links (admin keys).")
def kutt_command(
    url: str, owner: str, start: int, page_size: int | None, api_key: str, every_user: bool
) -> None:
    """Every link of a Kutt instance: address, target, description, expiry, date, visits.

    Password-protected links are reported as failed: Kutt's API never shows the password."""
    peer = Peer("kutt", url, api_key=api_key, every_user=every_user, page_size=page_size or 0)
    _run(peer, owner, start)


@migrate_cli.command("shlink")
@_common
@click.option("--api-key", required=True, help="A Shlink API key (shlink api-key:generate).")
def shlink_command(url: str, owner: str, start: int, page_size: int | None, api_key: str) -> None:
    """Every short URL of a Shlink instance: code, URL, title, tags, validUntil, maxVisits,
    date, visit total (GET /rest/v3/short-urls, paged)."""
    peer = Peer("shlink", url, api_key=api_key, page_size=page_size or 0)
    _run(peer, owner, start)


__all__ = ["format_report", "migrate_cli"]
