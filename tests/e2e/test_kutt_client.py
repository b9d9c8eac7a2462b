"""The npm client ``kutt``, unchanged, against a live fleet through nginx.

``tests/clients/kutt_client.mjs`` calls every client method that maps to LinkFleet's Kutt API
(health, links create/list/update/stats/remove, a link on an added domain, users, the refused
domains create/remove) and prints what each returned; the assertions are here.
``make test-deps`` installs the client (``npm ci``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.node_clients import run_client, run_docs_example
from tests.fixtures.fleets import Fleet

pytestmark = pytest.mark.e2e

EMAIL = "kutt-client@example.com"


@pytest.fixture(scope="module")
def run(fleet: Fleet) -> dict[str, Any]:
    """The script's output, run once for the module with a read-write and a read-only key."""
    fleet.create_user(EMAIL, "a kutt client password")
    key = fleet.api_key(EMAIL, "kutt")
    read_key = fleet.api_key(EMAIL, "kutt read", scope="read")
    suffix = uuid.uuid4().hex[:8]
    domain = fleet.cli("domains", "add", f"kutt-{suffix}.example.test").stdout.strip()
    output = run_client(
        "kutt_client.mjs",
        "kutt",
        {"KUTT_API": f"{fleet.url}/api/v2", "KUTT_KEY": key, "KUTT_READ_KEY": read_key,
         "KUTT_SUFFIX": suffix, "KUTT_DOMAIN": domain},
    )  # fmt: skip
    output["suffix"], output["key"], output["domain"] = suffix, key, domain
    return output


def test_health_and_create(run: dict[str, Any], fleet: Fleet) -> None:
    assert run["health"] is True
    assert run["create"]["ok"], run["create"]
    link = run["create"]["value"]
    assert len(link["id"]) == 36
    assert link["address"] == f"kutt-{run['suffix']}"
    assert link["link"] == f"{fleet.url}/kutt-{run['suffix']}"
    assert link["password"] is True
    assert link["description"] == "Made by the npm client"
    assert link["expire_in"] is not None
    assert run["createdAtIsDate"] is True  # the client's reviver read our date format
    assert run["reuse"]["value"]["id"] == link["id"]


def test_list_update_and_stats(run: dict[str, Any]) -> None:
    listed = run["list"]["value"]
    assert (listed["total"], listed["skip"], listed["limit"]) == (1, 0, 5)
    assert listed["data"][0]["id"] == run["create"]["value"]["id"]
    updated = run["update"]["value"]
    assert updated["id"] == run["create"]["value"]["id"]
    assert updated["address"] == f"kutt-{run['suffix']}-changed"
    assert updated["target"].endswith("/changed")
    assert updated["description"] == "Changed by the npm client"
    stats = run["stats"]["value"]  # sent by the client as DELETE .../stats
    assert len(stats["lastDay"]["views"]) == 24
    assert len(stats["lastYear"]["views"]) == 12
    assert stats["address"] == updated["address"]
    assert run["readOnlyList"]["ok"]


def test_users_info(run: dict[str, Any]) -> None:
    user = run["users"]["value"]
    assert (user["apikey"], user["email"]) == (run["key"], EMAIL)
    # the fleet's domains (an operator adds them for everyone): the one this module added
    [domain] = [domain for domain in user["domains"] if domain["address"] == run["domain"]]
    assert (domain["address"], domain["banned"], domain["homepage"]) == (run["domain"], False, None)
    assert len(domain["id"]) == 36


def test_a_link_on_a_second_domain(run: dict[str, Any], fleet: Fleet) -> None:
    """The address of the default domain's link, again on the added domain: a second link,
    its short URL on that host, redirecting through nginx."""
    domain, address = run["domain"], f"kutt-{run['suffix']}-changed"
    assert run["createOnDomain"]["ok"], run["createOnDomain"]
    link = run["createOnDomain"]["value"]
    assert (link["address"], link["domain"]) == (address, domain)
    assert link["link"] == f"http://{domain}/{address}"
    assert link["id"] != run["create"]["value"]["id"]
    visit = requests.get(
        f"{fleet.url}/{address}", headers={"Host": domain}, allow_redirects=False, timeout=10
    )
    assert (visit.status_code, visit.headers["Location"]) == (302, link["target"])


def test_errors_reach_the_client_as_kutt_messages(run: dict[str, Any]) -> None:
    assert run["badTarget"] == {
        "ok": False,
        "message": "Only http:// and https:// links are allowed.",
        "status": 400,
    }
    assert run["takenAddress"]["status"] == 409
    assert run["takenAddress"]["message"] == "Custom URL is already in use."
    assert run["readOnlyCreate"]["status"] == 403
    assert run["badKey"] == {"ok": False, "message": "Unauthorized.", "status": 401}
    for refused in (run["domainCreate"], run["domainRemove"]):  # domains are an administrator's
        assert (refused["ok"], refused["status"]) == (False, 403), refused
        assert refused["message"].startswith("Domains are added and removed by an administrator")


def test_remove(run: dict[str, Any], fleet: Fleet) -> None:
    assert run["remove"] == {"ok": True, "value": "Link has been deleted successfully."}
    assert run["removedAgain"]["status"] == 404
    assert run["statsOfRemoved"]["message"] == "Link could not be found."
    gone = requests.get(f"{fleet.url}/kutt-{run['suffix']}-changed", timeout=10)
    assert gone.status_code == 404


def test_the_example_of_docs_kutt_md_runs_as_written(
    run: dict[str, Any], fleet: Fleet, tmp_path: Path
) -> None:
    """docs/KUTT.md's JavaScript example, with only the address of this fleet put in."""
    api = "https://lnk.example/api/v2"
    run_docs_example("KUTT.md", "kutt", api, f"{fleet.url}/api/v2", run["key"], tmp_path)
    assert requests.get(f"{fleet.url}/demo", timeout=10).status_code == 404  # removed again
