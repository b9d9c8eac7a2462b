"""Migrations from a second, live LinkFleet fleet (fleet B: nginx, a replica, the worker,
Redis) speaking as a YOURLS peer (``/yourls-api.php``), a Kutt peer (``/api/v2``) and a
Shlink peer (``/rest/v3``), into the app under test on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from service.analytics.models import HourlyVisits
from service.extensions import db
from service.fleet.supervisor import Supervisor
from service.links.models import Link
from service.migrate.peers import Peer
from service.migrate.runner import MigrationReport, run_migration
from tests.fixtures.fleets import Fleet, started_fleet
from tests.fixtures.services import wait_until
from tests.fixtures.users import user_with_email
from tests.migrate.conftest import migrate

pytestmark = pytest.mark.e2e

PEER_EMAIL = "peer@example.com"
PEER_PASSWORD = "the peer's password"
OWNER = "arrival@example.com"
#: The links on fleet B: slug -> (title, visits made before the migration).
LINKS = {"alpha": ("Alpha page", 3), "beta": ("Beta page", 0), "gamma": ("", 1)}
LINKS.update({f"more{n}": (f"More {n}", 0) for n in range(4)})
EXPIRY = "2099-06-01T00:00:00+00:00"
#: Fields only some peers carry (Shlink: tags and the visit limit), on some of :data:`LINKS`.
TAGS = {"alpha": ["docs", "news"], "more1": ["news"]}
LIMITS = {"gamma": 50}
#: Each peer kind the halfway test stops, and the path that answers once it is back.
HEALTH = {"kutt": "/api/v2/health", "shlink": "/rest/health"}


@dataclass
class PeerFleet:
    fleet: Fleet
    key: str
    shown: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerFleet]:
    """Fleet B with a user, a key and :data:`LINKS` (visited, and counted by its worker)."""
    with started_fleet(tmp_path_factory.mktemp("peer-fleet"), 1) as fleet:
        fleet.create_user(PEER_EMAIL, PEER_PASSWORD)
        key = fleet.cli("apikey", "create", PEER_EMAIL, "--name", "migrate").stdout.strip()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        for slug, (title, visits) in LINKS.items():
            body = {"url": f"https://example.net/{slug}", "slug": slug, "title": title}
            if slug == "beta":
                body["expires_at"] = EXPIRY
            if slug in TAGS:
                body["tags"] = TAGS[slug]
            if slug in LIMITS:
                body["max_visits"] = LIMITS[slug]
            created = session.post(f"{fleet.url}/api/v1/links", json=body, timeout=10)
            assert created.status_code == 201, created.text
            for _ in range(visits):
                visit = requests.get(f"{fleet.url}/{slug}", allow_redirects=False, timeout=10)
                assert visit.status_code == 302

        def shown() -> dict[str, dict[str, Any]]:
            listed = session.get(f"{fleet.url}/api/v1/links?per_page=100", timeout=10).json()
            return {item["slug"]: item for item in listed}

        wait_until(
            lambda: all(shown()[slug]["visits"] == n for slug, (_, n) in LINKS.items()),
            60,
            "fleet B's worker did not count the visits",
        )
        yield PeerFleet(fleet, key, shown())


def arrived(app: Flask) -> dict[str, tuple[Link, int]]:
    """The owner's links with their click totals."""
    with app.app_context():
        owner = user_with_email(OWNER)
        clicks = (
            select(func.coalesce(func.sum(HourlyVisits.visits), 0))
            .where(HourlyVisits.link_id == Link.id)
            .scalar_subquery()
        )
        rows = db.session.execute(select(Link, clicks).where(Link.owner_id == owner.id)).all()
        return {link.slug: (link, int(total)) for link, total in rows}


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def imported_all(app: Flask, *args: str, counted: bool = True) -> dict[str, Any]:
    """Migrate with ``args``: every link of :data:`LINKS` arrives (``counted``: the progress
    knew the peer's total); what arrived, by slug."""
    first = migrate(app, *args)
    assert first.exit_code == 0, first.output
    if counted:
        assert f"links read: {len(LINKS)} of {len(LINKS)}" in first.output
    assert f"Imported: {len(LINKS)}" in first.output
    links = arrived(app)
    assert sorted(links) == sorted(LINKS)
    return links


def only_skipped(app: Flask, *args: str) -> None:
    """Migrate again with ``args``: nothing new, every link skipped as already imported."""
    again = migrate(app, *args)
    assert again.exit_code == 0, again.output
    assert "Imported: 0" in again.output
    assert f"Skipped (already imported): {len(LINKS)}" in again.output
    assert len(arrived(app)) == len(LINKS)


def test_from_a_live_kutt_peer_every_link_arrives_once(app: Flask, peer: PeerFleet) -> None:
    with app.app_context():
        user_with_email(OWNER)
    args = ("kutt", "--url", peer.fleet.url, "--owner", OWNER, "--api-key", peer.key)

    links = imported_all(app, *args, "--page-size", "3")
    for slug, (title, visits) in LINKS.items():
        link, clicks = links[slug]
        source = peer.shown[slug]
        assert link.url == source["url"]
        assert link.title == title
        assert clicks == visits
        assert abs((link.created_at - moment(source["created_at"])).total_seconds()) < 0.001
    assert links["beta"][0].expires_at == moment(EXPIRY)

    only_skipped(app, *args)


def test_from_a_live_shlink_peer_every_link_and_field_arrives_once(
    app: Flask, peer: PeerFleet
) -> None:
    """Fleet B's ``/rest/v3/short-urls``, three a page: code, URL, title, tags, expiry, visit
    limit, creation time (Shlink's whole seconds) and visit total; a re-run only skips."""
    with app.app_context():
        user_with_email(OWNER)
    args = ("shlink", "--url", peer.fleet.url, "--owner", OWNER, "--api-key", peer.key)

    links = imported_all(app, *args, "--page-size", "3")
    for slug, (title, visits) in LINKS.items():
        link, clicks = links[slug]
        source = peer.shown[slug]
        assert link.url == source["url"]
        assert link.title == title
        assert sorted(tag.name for tag in link.tags) == TAGS.get(slug, [])
        assert link.max_visits == LIMITS.get(slug)
        assert clicks == visits
        assert link.created_at == moment(source["created_at"]).replace(microsecond=0)
    assert links["beta"][0].expires_at == moment(EXPIRY)
    assert all(link.expires_at is None for slug, (link, _) in links.items() if slug != "beta")

    only_skipped(app, *args)


def test_from_a_live_yourls_peer_with_a_signature_then_a_password(
    app: Flask, peer: PeerFleet
) -> None:
    with app.app_context():
        user_with_email(OWNER)

    links = imported_all(
        app, "yourls", "--url", peer.fleet.url, "--owner", OWNER,
        "--signature", peer.key, "--page-size", "2", counted=False,
    )  # fmt: skip
    for slug, (title, visits) in LINKS.items():
        link, clicks = links[slug]
        assert link.url == f"https://example.net/{slug}"
        assert link.title == title
        assert clicks == visits
        created = moment(peer.shown[slug]["created_at"]).replace(microsecond=0)
        assert link.created_at == created  # YOURLS' timestamps have whole seconds

    only_skipped(
        app, "yourls", "--url", f"{peer.fleet.url}/yourls-api.php", "--owner", OWNER,
        "--username", PEER_EMAIL, "--password", PEER_PASSWORD,
    )  # fmt: skip


@pytest.mark.parametrize("kind", sorted(HEALTH))
def test_a_peer_whose_nginx_stops_halfway_is_resumed_by_a_rerun(
    app: Flask, peer: PeerFleet, kind: str
) -> None:
    """Fleet B's nginx is stopped after the first page: what was read stays imported, the
    report says where the run stopped, and the same run once nginx is back creates the rest."""
    supervisor = Supervisor(peer.fleet.spec)
    with app.app_context():
        owner = user_with_email(OWNER)
        source = Peer(kind, peer.fleet.url, api_key=peer.key, page_size=3, allow_private=True)

        def stop_nginx(report: MigrationReport, count: int) -> None:
            if report.position == 3:
                supervisor.rpc.stopProcess("nginx", True)

        try:
            report = run_migration(owner, source, progress=stop_nginx)
        finally:
            supervisor.start_stopped()
        wait_until(
            lambda: supervisor.processes()["nginx"]["statename"] == "RUNNING",
            30,
            "fleet B's nginx did not start again",
        )

    assert report.imported == 3
    assert not report.complete
    assert report.stopped.startswith("stopped after 3 links: network error: ConnectionRefused")
    assert len(arrived(app)) == 3

    wait_until(
        lambda: requests.get(f"{peer.fleet.url}{HEALTH[kind]}", timeout=5).ok,
        30,
        "fleet B does not answer again",
    )
    again = migrate(app, kind, "--url", peer.fleet.url, "--owner", OWNER, "--api-key", peer.key)

    assert again.exit_code == 0, again.output
    assert f"Imported: {len(LINKS) - 3}" in again.output
    assert "Skipped (already imported): 3" in again.output
    assert sorted(arrived(app)) == sorted(LINKS)


def test_a_dashboard_migration_is_run_by_the_fleets_worker(
    tmp_path_factory: pytest.TempPathFactory, peer: PeerFleet
) -> None:
    """Fleet A (its own nginx, replica, worker): the Migrate form queues a job, fleet A's
    ``linkfleet worker`` runs it against fleet B, and the job's page shows the report."""
    with started_fleet(
        tmp_path_factory.mktemp("arrival-fleet"), 1, LINKFLEET_WEBHOOKS_ALLOW_PRIVATE="true"
    ) as arrival:
        arrival.create_user(OWNER, PEER_PASSWORD)
        browser = requests.Session()
        login = browser.get(f"{arrival.url}/login", timeout=10)
        logged_in = browser.post(
            f"{arrival.url}/login",
            data={"email": OWNER, "password": PEER_PASSWORD, "csrf_token": csrf_of(login.text)},
            timeout=10,
        )
        assert logged_in.ok
        form = browser.get(f"{arrival.url}/dashboard/migrate", timeout=10)
        started = browser.post(
            f"{arrival.url}/dashboard/migrate",
            data={
                "csrf_token": csrf_of(form.text),
                "peer": "kutt",
                "url": peer.fleet.url,
                "api_key": peer.key,
            },
            allow_redirects=False,
            timeout=10,
        )
        assert started.status_code == 303, started.text
        job_page = f"{arrival.url}{started.headers['Location']}"

        wait_until(
            lambda: "<dd>done</dd>" in state(browser.get(job_page, timeout=10).text),
            60,
            "fleet A's worker did not finish the migration",
        )

        page = browser.get(job_page, timeout=10).text
        assert f"<dt>Imported</dt><dd>{len(LINKS)}</dd>" in page
        key = arrival.cli("apikey", "create", OWNER, "--name", "check").stdout.strip()
        listed = requests.get(
            f"{arrival.url}/api/v1/links?per_page=100",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).json()
        assert sorted(item["slug"] for item in listed) == sorted(LINKS)
        assert {item["slug"]: item["visits"] for item in listed} == {
            slug: visits for slug, (_, visits) in LINKS.items()
        }


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def state(html: str) -> str:
    """The job's state badge as ``<dd>state</dd>`` (``<dd>queued</dd>``, ``<dd>done</dd>``)."""
    match = re.search(r'class="badge migration-state">([a-z]+)<', html)
    return f"<dd>{match.group(1)}</dd>" if match else ""
