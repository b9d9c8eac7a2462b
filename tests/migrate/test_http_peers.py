"""Migrations from real HTTP servers serving peer-shaped pages: Shlink's REST v3 (until the
Shlink API lands in LinkFleet), a Kutt peer that fails halfway, and the SSRF refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from service.analytics.models import HourlyVisits
from service.extensions import db
from service.links.models import Link
from service.links.services import create_link
from service.links.visits import visit_count
from tests.fixtures.users import user_with_email
from tests.migrate.conftest import PeerServer, migrate

pytestmark = pytest.mark.integration

OWNER = "mover@example.com"
SHLINK_KEY = "a-shlink-api-key"


def shlink_item(number: int, **extra: Any) -> dict[str, Any]:
    """A short URL as Shlink's ``GET /rest/v3/short-urls`` lists it."""
    return {
        "shortCode": f"sh{number}",
        "shortUrl": f"https://s.example/sh{number}",
        "longUrl": f"https://example.org/page/{number}",
        "deviceLongUrls": {"android": None, "ios": None, "desktop": None},
        "dateCreated": f"2024-0{number}-15T10:30:00+02:00",
        "visitsSummary": {"total": number * 10, "nonBots": number * 9, "bots": number},
        "tags": [f"tag{number}", "shared"],
        "meta": {"validSince": None, "validUntil": None, "maxVisits": None},
        "domain": None,
        "title": f"Page {number}",
        "crawlable": False,
        "forwardQuery": True,
        **extra,
    }


def shlink_pages(items: list[dict[str, Any]]) -> Any:
    def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        if path != "/rest/v3/short-urls":
            return 404, {"type": "not-found"}
        if headers.get("x-api-key") != SHLINK_KEY:
            return 401, {"type": "https://shlink.io/api/error/invalid-api-key", "status": 401}
        page, per_page = int(query["page"]), int(query["itemsPerPage"])
        window = items[(page - 1) * per_page : page * per_page]
        pages = -(-len(items) // per_page)
        return 200, {
            "shortUrls": {
                "data": window,
                "pagination": {
                    "currentPage": page,
                    "pagesCount": pages,
                    "itemsPerPage": per_page,
                    "itemsInCurrentPage": len(window),
                    "totalItems": len(items),
                },
            }
        }

    return answer


def owned_links(app: Flask) -> dict[str, Link]:
    with app.app_context():
        owner = user_with_email(OWNER)
        links = db.session.scalars(select(Link).where(Link.owner_id == owner.id)).all()
        return {link.slug: link for link in links}


def test_shlink_every_field_arrives_and_a_rerun_creates_nothing(
    app: Flask, peer_server: PeerServer
) -> None:
    limited = shlink_item(
        3,
        meta={"validSince": None, "validUntil": "2099-01-01T00:00:00+00:00", "maxVisits": 50},
        crawlable=True,
        forwardQuery=False,
    )
    before_2_9 = shlink_item(2)
    del before_2_9["forwardQuery"], before_2_9["crawlable"]  # it forwarded every query
    items = [shlink_item(1), before_2_9, limited, shlink_item(4), shlink_item(5)]
    peer_server.handler = shlink_pages(items)
    with app.app_context():
        owner = user_with_email(OWNER)
        create_link(owner, url="https://example.org/page/4", slug="sh4")  # imported before
        create_link(owner, url="https://elsewhere.example/", slug="sh5")  # another URL

    first = migrate(
        app, "shlink", "--url", peer_server.url, "--owner", OWNER,
        "--api-key", SHLINK_KEY, "--page-size", "2",
    )  # fmt: skip

    assert first.exit_code == 0, first.output
    assert "Imported: 3" in first.output
    assert "Skipped (already imported): 1" in first.output
    assert "Conflicts: 1" in first.output
    assert "conflict sh5: the short name already points to https://elsewhere.example/" in (
        first.output
    )
    assert [query["page"] for path, query, _ in peer_server.requests] == ["1", "2", "3"]
    links = owned_links(app)
    assert links["sh5"].url == "https://elsewhere.example/"  # never overwritten
    assert (links["sh1"].crawlable, links["sh1"].forward_query) == (False, True)
    assert (links["sh2"].crawlable, links["sh2"].forward_query) == (False, True)
    with app.app_context():
        link = db.session.scalars(select(Link).where(Link.slug == "sh3")).one()
        assert link.url == "https://example.org/page/3"
        assert link.title == "Page 3"
        assert sorted(tag.name for tag in link.tags) == ["shared", "tag3"]
        assert link.max_visits == 50
        assert link.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
        assert link.created_at == datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
        assert (link.crawlable, link.forward_query) == (True, False)
        clicks = db.session.scalar(
            select(func.sum(HourlyVisits.visits)).where(HourlyVisits.link_id == link.id)
        )
        assert clicks == 30
        assert visit_count(link.id) == 30  # the limit's visits already spent stay spent

    peer_server.requests.clear()
    again = migrate(
        app, "shlink", "--url", peer_server.url, "--owner", OWNER, "--api-key", SHLINK_KEY,
    )  # fmt: skip

    assert again.exit_code == 0, again.output
    assert "Imported: 0" in again.output
    assert "Skipped (already imported): 4" in again.output
    assert "Conflicts: 1" in again.output
    assert len(owned_links(app)) == 5
    with app.app_context():
        link_id = db.session.scalar(select(Link.id).where(Link.slug == "sh3"))
        clicks = db.session.scalar(
            select(func.sum(HourlyVisits.visits)).where(HourlyVisits.link_id == link_id)
        )
        assert clicks == 30  # not counted twice


def test_a_wrong_shlink_key_is_reported(app: Flask, peer_server: PeerServer) -> None:
    peer_server.handler = shlink_pages([shlink_item(1)])
    with app.app_context():
        user_with_email(OWNER)

    result = migrate(app, "shlink", "--url", peer_server.url, "--owner", OWNER, "--api-key", "no")

    assert result.exit_code == 1
    assert "stopped after 0 links: HTTP 401: the peer refused the credentials." in result.output
    assert owned_links(app) == {}


def kutt_item(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "address": f"k{number}",
        "banned": False,
        "created_at": "2025-05-01T12:00:00.000Z",
        "description": f"Kutt {number}",
        "domain": None,
        "expire_in": None,
        "id": f"00000000-0000-4000-8000-{number:012d}",
        "link": f"https://kutt.example/k{number}",
        "password": False,
        "target": f"https://example.com/k/{number}",
        "updated_at": "2025-05-01T12:00:00.000Z",
        "visit_count": number,
        **extra,
    }


def test_a_peer_failing_halfway_keeps_what_was_imported_and_a_rerun_resumes(
    app: Flask, peer_server: PeerServer
) -> None:
    items = [kutt_item(n) for n in range(1, 8)] + [kutt_item(8, password=True)]
    failing = {"on": True}

    def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        skip, limit = int(query["skip"]), int(query["limit"])
        if failing["on"] and skip >= 4:
            return 503, {"error": "Service unavailable"}
        window = items[skip : skip + limit]
        return 200, {"total": len(items), "limit": limit, "skip": skip, "data": window}

    peer_server.handler = answer
    with app.app_context():
        user_with_email(OWNER)
    args = ("kutt", "--url", peer_server.url, "--owner", OWNER, "--api-key", "k")
    args = (*args, "--page-size", "2")

    first = migrate(app, *args)

    assert first.exit_code == 1
    assert "Imported: 4" in first.output
    assert "Incomplete: stopped after 4 links: HTTP 503 from the peer." in first.output
    assert "Run the same command again to resume" in first.output
    assert sorted(owned_links(app)) == ["k1", "k2", "k3", "k4"]

    failing["on"] = False
    second = migrate(app, *args)

    assert second.exit_code == 0, second.output
    assert "Imported: 3" in second.output
    assert "Skipped (already imported): 4" in second.output
    assert "Failed: 1" in second.output
    assert "failed k8: password-protected on the peer" in second.output
    links = owned_links(app)
    assert sorted(links) == [f"k{n}" for n in range(1, 8)]
    assert links["k7"].title == "Kutt 7"
    assert links["k7"].created_at == datetime(2025, 5, 1, 12, tzinfo=UTC)
    assert not any(link.crawlable or link.forward_query for link in links.values())


def test_loopback_peers_are_refused_unless_the_admin_allows_them(
    app: Flask, peer_server: PeerServer
) -> None:
    peer_server.handler = shlink_pages([shlink_item(1)])
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    with app.app_context():
        user_with_email(OWNER)

    result = migrate(app, "shlink", "--url", peer_server.url, "--owner", OWNER, "--api-key", "k")

    assert result.exit_code == 1
    assert "Peer URLs must start with https://." in result.output
    https = peer_server.url.replace("http://", "https://")
    result = migrate(app, "shlink", "--url", https, "--owner", OWNER, "--api-key", "k")
    assert "a loopback, private or reserved address" in result.output
    assert peer_server.requests == []


def test_an_unknown_owner_is_a_clear_error(app: Flask, peer_server: PeerServer) -> None:
    result = migrate(app, "kutt", "--url", peer_server.url, "--owner", "no@example.com",
                     "--api-key", "k")  # fmt: skip

    assert result.exit_code == 1
    assert "There is no LinkFleet account no@example.com." in result.output


def test_a_peer_that_caps_the_page_size_is_read_to_the_end(
    app: Flask, peer_server: PeerServer
) -> None:
    items = [kutt_item(n) for n in range(1, 8)]

    def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        skip, limit = int(query["skip"]), min(int(query["limit"]), 3)  # as Kutt caps at 50
        return 200, {
            "total": len(items),
            "limit": limit,
            "skip": skip,
            "data": items[skip:][:limit],
        }

    peer_server.handler = answer
    with app.app_context():
        user_with_email(OWNER)

    result = migrate(app, "kutt", "--url", peer_server.url, "--owner", OWNER, "--api-key", "k",
                     "--page-size", "10")  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Imported: 7" in result.output
    assert [query["skip"] for _, query, _ in peer_server.requests] == ["0", "3", "6"]


def yourls_item(keyword: str) -> dict[str, Any]:
    return {
        "shorturl": f"https://y.example/{keyword}",
        "url": f"https://example.com/y/{keyword}",
        "title": f"Title {keyword}",
        "timestamp": "2023-04-05 06:07:08",
        "ip": "192.0.2.1",
        "clicks": "12",
    }


def test_a_yourls_peer_that_ignores_start_is_reported_not_looped(
    app: Flask, peer_server: PeerServer
) -> None:
    keywords = ["a1", "b2", "c3", "d4", "e5"]

    def answer(path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        if path != "/yourls-api.php" or query.get("signature") != "sig":
            return 403, {"message": "Please log in", "errorCode": 403}
        window = keywords[: int(query["limit"])]  # YOURLS before 1.7: no `start`
        return 200, {
            "links": {f"link_{n}": yourls_item(k) for n, k in enumerate(window, 1)},
            "stats": {"total_links": str(len(keywords)), "total_clicks": "60"},
            "statusCode": 200,
            "message": "success",
        }

    peer_server.handler = answer
    with app.app_context():
        user_with_email(OWNER)

    result = migrate(app, "yourls", "--url", peer_server.url, "--owner", OWNER,
                     "--signature", "sig", "--page-size", "2")  # fmt: skip

    assert result.exit_code == 1
    assert "Imported: 2" in result.output
    assert "the peer answered the same links again after 2: it ignores the paging parameters" in (
        result.output
    )
    assert "raise --page-size above its link count" in result.output
    assert len(peer_server.requests) == 2
    with app.app_context():
        link = db.session.scalars(select(Link).where(Link.slug == "a1")).one()
        assert (link.url, link.title) == ("https://example.com/y/a1", "Title a1")
        assert link.created_at == datetime(2023, 4, 5, 6, 7, 8, tzinfo=UTC)

    whole = migrate(app, "yourls", "--url", f"{peer_server.url}/yourls-api.php", "--owner",
                    OWNER, "--signature", "sig", "--page-size", "10")  # fmt: skip

    assert whole.exit_code == 0, whole.output
    assert "Imported: 3" in whole.output
    assert "Skipped (already imported): 2" in whole.output


def test_a_malformed_peer_url_is_a_clear_error(app: Flask) -> None:
    with app.app_context():
        user_with_email(OWNER)

    result = migrate(app, "kutt", "--url", "https://example.com:99999/", "--owner", OWNER,
                     "--api-key", "k")  # fmt: skip

    assert result.exit_code == 1
    assert "'https://example.com:99999/' is not a valid URL." in result.output


def test_the_help_names_each_peer_and_its_credentials(app: Flask) -> None:
    group = migrate(app, "--help")
    assert group.exit_code == 0
    assert all(peer in group.output for peer in ("kutt", "shlink", "yourls"))
    assert "docs/MIGRATING.md" in group.output
    yourls = migrate(app, "yourls", "--help")
    assert "--signature" in yourls.output
    assert "--username" in yourls.output
    assert "--api-key" in migrate(app, "kutt", "--help").output


def test_links_linkfleet_refuses_are_failed_with_the_field_message(
    app: Flask, peer_server: PeerServer
) -> None:
    expired = shlink_item(
        1, meta={"validSince": None, "validUntil": "2020-01-01T00:00:00+00:00", "maxVisits": None}
    )
    reserved = shlink_item(2, shortCode="dashboard")
    peer_server.handler = shlink_pages([expired, reserved, shlink_item(3)])
    with app.app_context():
        user_with_email(OWNER)

    result = migrate(app, "shlink", "--url", peer_server.url, "--owner", OWNER, "--api-key",
                     SHLINK_KEY)  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Imported: 1" in result.output
    assert "Failed: 2" in result.output
    assert "failed sh1: expires_at: The expiry must be in the future." in result.output
    assert "failed dashboard: slug: " in result.output
    assert sorted(owned_links(app)) == ["sh3"]
