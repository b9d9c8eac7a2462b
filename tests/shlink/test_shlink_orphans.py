"""Orphan visits on Shlink's API, on both databases: the overview's counts for an
administrator's key (zeros for anyone else's), the per-visit list (empty: LinkFleet counts
per hour), and erasing them (administrators only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from service.analytics.models import HourlyVisits, OrphanHourly
from service.extensions import db
from service.links.models import Link
from tests.fixtures.accounts import Account, AccountFactory
from tests.shlink.conftest import ShlinkClient, problem_of

pytestmark = pytest.mark.integration

ZERO = {"total": 0, "nonBots": 0, "bots": 0}


@pytest.fixture
def admin(make_account: AccountFactory) -> Account:
    return make_account("root@example.com", admin=True)


def _count_orphans(app: Flask) -> None:
    """What the analytics worker would have stored: 7 orphan visits (2 bots) in two hours,
    of both types, and a link's own visits (which are no orphans)."""
    hour = datetime(2026, 11, 30, 9, tzinfo=UTC)
    rows = [
        (hour, "invalid_short_url", "localhost", "", 3, 1),
        (hour, "regular_404", "localhost", "search.example", 2, 0),
        (hour + timedelta(hours=5), "invalid_short_url", "other", "other", 2, 1),
    ]
    with app.app_context():
        for moment, kind, host, referrer, visits, bots in rows:
            db.session.add(
                OrphanHourly(
                    hour=moment,
                    type=kind,
                    host=host,
                    referrer_host=referrer,
                    visits=visits,
                    bot_visits=bots,
                )
            )
        link_id = db.session.scalar(db.select(Link.id).where(Link.slug == "seen"))
        db.session.add(HourlyVisits(link_id=link_id, hour=hour, visits=4, bot_visits=1))
        db.session.commit()


def _orphan_rows(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(db.select(db.func.count()).select_from(OrphanHourly)))


def _overview(shlink: ShlinkClient, key: str) -> dict[str, object]:
    response = shlink.request("GET", "/visits", key=key)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["visits"]  # type: ignore[no-any-return]


def test_the_overview_counts_orphan_visits_for_an_admins_key(
    app: Flask, shlink: ShlinkClient, admin: Account, alice: Account
) -> None:
    shlink.create(customSlug="seen")
    _count_orphans(app)
    assert _overview(shlink, admin.key) == {
        "nonOrphanVisits": {"total": 4, "nonBots": 3, "bots": 1},
        "orphanVisits": {"total": 7, "nonBots": 5, "bots": 2},
        "visitsCount": 4,
        "orphanVisitsCount": 7,
    }
    assert _overview(shlink, admin.read_key)["orphanVisits"] == {
        "total": 7,
        "nonBots": 5,
        "bots": 2,
    }
    # Anyone else's key: as Shlink answers a key with its NO_ORPHAN_VISITS role.
    mine = _overview(shlink, alice.key)
    assert mine["orphanVisits"] == ZERO
    assert mine["orphanVisitsCount"] == 0
    assert mine["nonOrphanVisits"] == {"total": 4, "nonBots": 3, "bots": 1}


def test_the_orphan_visit_list_is_empty_but_checked(
    app: Flask, shlink: ShlinkClient, admin: Account
) -> None:
    shlink.create(customSlug="seen")
    _count_orphans(app)
    for query in ("", "?type=invalid_short_url", "?type=regular_404&excludeBots=true"):
        response = shlink.request("GET", f"/visits/orphan{query}", key=admin.key)
        visits = response.get_json()["visits"]
        assert (visits["data"], visits["pagination"]["totalItems"]) == ([], 0), query
    problem_of(shlink.request("GET", "/visits/orphan?type=odd", key=admin.key), 400, "invalid-data")


def test_only_an_admins_write_key_erases_orphan_visits(
    app: Flask, shlink: ShlinkClient, admin: Account, alice: Account
) -> None:
    shlink.create(customSlug="seen")
    _count_orphans(app)
    refused = problem_of(shlink.request("DELETE", "/visits/orphan", key=alice.key), 403)
    assert refused["type"] == "about:blank"
    assert "administrator" in refused["detail"]
    problem_of(shlink.request("DELETE", "/visits/orphan", key=admin.read_key), 403)
    assert _orphan_rows(app) == 3
    erased = shlink.request("DELETE", "/visits/orphan", key=admin.key)
    assert erased.status_code == 200
    assert erased.get_json() == {"deletedVisits": 7}
    assert _orphan_rows(app) == 0
    overview = _overview(shlink, admin.key)
    assert overview["orphanVisits"] == ZERO
    assert overview["nonOrphanVisits"] == {"total": 4, "nonBots": 3, "bots": 1}
    again = shlink.request("DELETE", "/visits/orphan", key=admin.key)
    assert again.get_json() == {"deletedVisits": 0}
