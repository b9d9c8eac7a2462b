"""Privacy on a real fleet (docs/PRIVACY.md): no raw client address in any file the fleet
writes, nginx's access log holds the client's network only and is rotated with a bounded
retention, and a client cannot choose its country or its address in the analytics.

The client connects from 127.0.0.5 (any 127/8 address reaches nginx on 127.0.0.1), so its
raw address cannot be confused with the fleet's own loopback addresses in the files.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from service.analytics.salt import SALT_KEY
from service.fleet.privacy import Retention, Rotator
from service.fleet.supervisor import Supervisor
from tests.fixtures.fleets import Fleet, started_fleet
from tests.fixtures.services import wait_until

pytestmark = pytest.mark.e2e

CLIENT = "127.0.0.5"
SPOOFED = "203.0.113.99"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One replica behind nginx that believes a CF-IPCountry header from a trusted proxy."""
    with started_fleet(
        tmp_path_factory.mktemp("privacy-fleet"),
        1,
        LINKFLEET_ANALYTICS_COUNTRY_HEADER="CF-IPCountry",
    ) as running:
        yield running


def request(
    fleet: Fleet, method: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request to nginx from :data:`CLIENT`."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", fleet.spec.port, timeout=10, source_address=(CLIENT, 0)
    )
    try:
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def fleet_redis(fleet: Fleet) -> redis.Redis:
    """The fleet's Redis, with the URL (and credentials) the fleet's CLI reads."""
    for line in (fleet.run_dir / "linkfleet.env").read_text().splitlines():
        if line.startswith("LINKFLEET_REDIS_URL="):
            return redis.Redis.from_url(line.split("=", 1)[1])
    return redis.Redis(port=fleet.spec.redis_port)


@pytest.fixture(scope="module")
def clicked(fleet: Fleet) -> dict[str, Any]:
    """A link clicked by a client that forges its address and country."""
    fleet.create_user("privacy@example.com", "a privacy password")
    key = fleet.cli("apikey", "create", "privacy@example.com", "--name", "e2e").stdout.strip()
    status, _, body = request(
        fleet,
        "POST",
        "/api/v1/links",
        {"url": "https://example.org/private"},
        Authorization=f"Bearer {key}",
    )
    assert status == 201, body
    slug = json.loads(body)["slug"]
    status, _, _ = request(
        fleet, "GET", f"/{slug}", **{"X-Forwarded-For": SPOOFED, "CF-IPCountry": "DE"}
    )
    assert status == 302
    return {"slug": slug, "key": key}


def test_a_forged_address_and_country_do_not_reach_the_analytics(
    fleet: Fleet, clicked: dict[str, Any]
) -> None:
    client = fleet_redis(fleet)
    events: list[dict[str, Any]] = []

    def shipped() -> bool:
        entries = client.xrange("linkfleet:clicks") or []
        events[:] = [json.loads(next(iter(fields.values()))) for _, fields in entries if fields]
        return any(event.get("slug") == clicked["slug"] for event in events)

    wait_until(shipped, 20, "the click reached the stream")
    event = next(event for event in events if event.get("slug") == clicked["slug"])
    assert event["cc"] == ""  # nginx dropped the client's CF-IPCountry
    salt = client.get(SALT_KEY.format(day=int(event["ts"] // 86400)))
    assert isinstance(salt, bytes)
    key = bytes.fromhex(salt.decode())

    def pseudonym(address: str) -> str:
        return hmac.digest(key, address.encode(), hashlib.sha256)[:16].hex()

    assert event["ip"] == pseudonym(CLIENT)  # the connection's address, not the forged one
    assert event["ip"] != pseudonym(SPOOFED)
    assert 86400 < client.ttl(SALT_KEY.format(day=int(event["ts"] // 86400))) <= 2 * 86400


def test_no_file_of_the_fleet_holds_the_client_address(
    fleet: Fleet, clicked: dict[str, Any]
) -> None:
    request(fleet, "GET", "/no-such-link-here")
    request(fleet, "GET", "/api/v1/links", Authorization="Bearer lf_00000000_" + "x" * 43)
    time.sleep(2)  # nginx flushes its access log buffer every second
    access = (fleet.spec.log_dir / "nginx-access.log").read_text().splitlines()
    ours = [json.loads(line) for line in access if clicked["slug"] in line]
    assert ours
    assert all(entry["client"] == "127.0.0.0" for entry in ours)
    holders = [
        path
        for path in fleet.run_dir.rglob("*")
        if path.is_file() and not path.is_symlink() and CLIENT.encode() in path.read_bytes()
    ]
    assert holders == []


def test_nginx_logs_are_rotated_and_old_ones_removed(fleet: Fleet) -> None:
    processes = Supervisor(fleet.spec).processes()
    assert processes["logrotate"]["statename"] == "RUNNING"
    log_dir = fleet.spec.log_dir
    access = log_dir / "nginx-access.log"
    rotator = Rotator(log_dir, Retention(max_bytes=1, keep=2))
    for round_number in range(4):
        status, _, _ = request(fleet, "GET", f"/healthz?round={round_number}")
        assert status == 200
        wait_until(
            lambda: access.exists() and access.stat().st_size > 0,
            10,
            "the round's log line",
        )
        assert access in rotator.run_once()
        assert access.stat().st_size == 0
    names = sorted(path.name for path in log_dir.glob("nginx-access.log*"))
    assert names == ["nginx-access.log", "nginx-access.log.1", "nginx-access.log.2"]
    newest = (log_dir / "nginx-access.log.1").read_text()
    assert "round=3" in newest
    assert "round=0" not in newest
    assert "round=1" not in (log_dir / "nginx-access.log.2").read_text()  # round 1 was .3: gone
