"""The npm client ``@shlinkio/shlink-js-sdk``, unchanged, against a live fleet through nginx.

``tests/clients/shlink_client.mjs`` calls every method of ``ShlinkApiClient`` (short URLs,
redirect rules, visits, tags, domains, health, Mercure) and prints what each returned or the
problem it threw, and where the redirect rules it set sent a visitor through nginx; the
assertions are here, including the documented refusals (docs/SHLINK.md). ``make test-deps``
installs the client (``npm ci``).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.node_clients import run_client, run_docs_example
from tests.fixtures.fleets import Fleet

pytestmark = pytest.mark.e2e

SDK = "@shlinkio/shlink-js-sdk"
EMAIL = "shlink-client@example.com"
ADMIN_EMAIL = "shlink-admin@example.com"
ERRORS = "https://shlink.io/api/error/"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
EMPTY_PAGE = {
    "currentPage": 1, "pagesCount": 0, "itemsInCurrentPage": 0, "totalItems": 0,
}  # fmt: skip


def _orphans_counted(fleet: Fleet, suffix: str) -> str:
    """An administrator's key, once three visits through nginx to short links that do not
    exist (one by a bot) are counted as orphan visits by the fleet's worker."""
    fleet.cli(
        "user", "create", ADMIN_EMAIL, "--admin", "--password-stdin",
        stdin="a shlink admin password\n",
    )  # fmt: skip
    key = fleet.api_key(ADMIN_EMAIL, "shlink admin")
    for agent in (FIREFOX, FIREFOX, None):  # python-requests' own agent counts as a bot
        headers = {"User-Agent": agent} if agent else {}
        missing = requests.get(f"{fleet.url}/missing-{suffix}", headers=headers, timeout=10)
        assert missing.status_code == 404
    orphans: dict[str, int] = {}
    for _ in range(120):  # the worker counts within seconds; a busy machine may take longer
        overview = requests.get(
            f"{fleet.url}/rest/v3/visits", headers={"X-Api-Key": key}, timeout=10
        ).json()
        orphans = overview["visits"]["orphanVisits"]
        if orphans["total"] >= 3:
            break
        time.sleep(0.5)
    assert orphans["total"] >= 3, orphans
    assert orphans["bots"] >= 1, orphans
    return key


@pytest.fixture(scope="module")
def run(fleet: Fleet) -> dict[str, Any]:
    """The script's output, run once for the module with a read-write and a read-only key."""
    fleet.create_user(EMAIL, "a shlink client password")
    key = fleet.api_key(EMAIL, "shlink")
    read_key = fleet.api_key(EMAIL, "shlink read", scope="read")
    suffix = uuid.uuid4().hex[:8]
    admin_key = _orphans_counted(fleet, suffix)
    domain = fleet.cli("domains", "add", f"sdk-{suffix}.example.test").stdout.strip()
    output = run_client(
        "shlink_client.mjs",
        SDK,
        {"SHLINK_BASE": fleet.url, "SHLINK_KEY": key, "SHLINK_READ_KEY": read_key,
         "SHLINK_ADMIN_KEY": admin_key, "SHLINK_SUFFIX": suffix, "SHLINK_DOMAIN": domain},
    )  # fmt: skip
    output["suffix"], output["domain"] = suffix, domain
    return output


def _value(run: dict[str, Any], name: str) -> Any:
    assert run[name]["ok"], run[name]
    return run[name]["value"]


def _problem(run: dict[str, Any], name: str, status: int, kind: str | None = None) -> Any:
    assert not run[name]["ok"], run[name]
    error = run[name]["error"]
    assert error["status"] == status, error
    if kind is not None:
        assert error["type"] == ERRORS + kind, error
    return error


def test_health(run: dict[str, Any]) -> None:
    health = _value(run, "health")
    assert health["status"] == "pass"
    assert health["version"] == "5.0.0"
    assert _value(run, "healthOnDomain") == health  # health({domain}) on the added domain


def test_create_find_and_list(run: dict[str, Any], fleet: Fleet) -> None:
    slug = f"shlink-{run['suffix']}"
    created = _value(run, "create")
    assert created["shortCode"] == slug
    assert created["shortUrl"] == f"{fleet.url}/{slug}"
    assert created["tags"] == ["sdk", f"tag-{run['suffix']}"]
    assert created["title"] == "Made by the Shlink SDK"
    assert created["meta"]["maxVisits"] == 100
    assert created["meta"]["validUntil"].endswith("+00:00")
    assert created["domain"] is None
    assert _value(run, "findIfExists")["shortCode"] == slug
    assert len(_value(run, "generated")["shortCode"]) == 9
    listed = _value(run, "list")
    assert [item["shortCode"] for item in listed["data"]] == [slug]
    assert listed["pagination"]["totalItems"] == 1
    assert listed["pagination"]["itemsPerPage"] == 5
    every = _value(run, "listAll")
    assert every["pagination"]["totalItems"] == 2
    assert _value(run, "get")["shortCode"] == slug
    _problem(run, "getWithDomain", 404, "short-url-not-found")


def test_update(run: dict[str, Any]) -> None:
    updated = _value(run, "update")
    assert updated["longUrl"].endswith("/changed")
    assert updated["title"] == "Changed by the Shlink SDK"
    assert updated["tags"] == sorted(["sdk", f"tag-{run['suffix']}", "extra"])
    assert updated["meta"]["maxVisits"] is None
    assert updated["meta"]["validUntil"] is None


def test_redirect_rules_and_the_redirect_through_nginx(run: dict[str, Any]) -> None:
    default = _value(run, "rulesCreate")["longUrl"]
    assert _value(run, "redirectRules") == {"defaultLongUrl": default, "redirectRules": []}
    assert run["visitBeforeRules"]["location"] == default
    rules = {
        "defaultLongUrl": default,
        "redirectRules": [
            {
                "longUrl": "https://android.example/",
                "priority": 1,
                "conditions": [{"type": "device", "matchKey": None, "matchValue": "android"}],
            },
            {
                "longUrl": "https://promo.example/",
                "priority": 2,
                "conditions": [
                    {"type": "query-param", "matchKey": "promo", "matchValue": "sdk"},
                    {"type": "language", "matchKey": None, "matchValue": "en-us"},
                ],
            },
        ],
    }
    assert _value(run, "setRedirectRules") == rules
    assert _value(run, "redirectRulesAfter") == rules
    assert _value(run, "rulesShortUrl")["hasRedirectRules"] is True
    # Through nginx, on whichever replica answers: the rules, not the cached old answer.
    android = run["visitAndroid"]
    assert (android["status"], android["location"]) == (302, "https://android.example/")
    assert "no-store" in android["cacheControl"]
    # Created through Shlink's API, the link forwards the query (Shlink's default), to the
    # matching rule's target as to its own.
    assert run["visitPromo"]["location"] == "https://promo.example/?promo=sdk"
    assert run["visitPromoInGerman"]["location"] == f"{default}?promo=sdk"  # all must match
    assert run["visitDesktop"]["location"] == default
    city = _problem(run, "setCityRule", 400, "invalid-data")
    assert city["invalidElements"] == ["redirectRules.0.conditions.0"]
    assert "geolocation-city-name" in city["errors"]["redirectRules.0.conditions.0"]
    assert _value(run, "setNoRedirectRules") == {"defaultLongUrl": default, "redirectRules": []}
    assert run["visitAndroidAfterClearing"]["location"] == default
    assert run["rulesDelete"] == {"ok": True, "value": None}


def test_visits(run: dict[str, Any]) -> None:
    overview = _value(run, "visitsOverview")
    assert set(overview) >= {"nonOrphanVisits", "orphanVisits"}
    assert overview["orphanVisits"] == {"total": 0, "nonBots": 0, "bots": 0}
    for name in ("shortUrlVisits", "tagVisits", "domainVisits", "orphanVisits", "nonOrphanVisits"):
        visits = _value(run, name)
        assert visits["data"] == [], name
        assert {k: visits["pagination"][k] for k in EMPTY_PAGE} == EMPTY_PAGE, name
    assert _value(run, "shortUrlVisits")["pagination"]["itemsPerPage"] == 20
    assert _value(run, "deleteShortUrlVisits") == {"deletedVisits": 0}
    # Orphan visits are an administrator's: zeros for anyone else, erasing them refused.
    assert "administrator" in _problem(run, "deleteOrphanVisits", 403)["detail"]
    orphans = _value(run, "adminVisitsOverview")["orphanVisits"]
    assert orphans["total"] >= 3, orphans
    assert orphans["bots"] >= 1, orphans
    assert orphans["nonBots"] == orphans["total"] - orphans["bots"]
    erased = _value(run, "adminDeleteOrphanVisits")["deletedVisits"]
    assert erased >= orphans["total"]
    after = _value(run, "adminVisitsOverviewAfter")
    assert after["orphanVisits"] == {"total": 0, "nonBots": 0, "bots": 0}


def test_tags(run: dict[str, Any]) -> None:
    suffix = run["suffix"]
    assert _value(run, "listTags")["data"] == sorted(["extra", "sdk", f"tag-{suffix}"])
    stats = {item["tag"]: item for item in _value(run, "tagsStats")["data"]}
    assert stats["sdk"]["shortUrlsCount"] == 1
    assert stats["sdk"]["visitsSummary"] == {"total": 0, "nonBots": 0, "bots": 0}
    assert _value(run, "editTag") == {"oldName": "extra", "newName": f"renamed-{suffix}"}
    _problem(run, "editMissingTag", 404, "tag-not-found")
    assert _value(run, "deleteTags") == {"tags": [f"renamed-{suffix}"]}
    assert _value(run, "tagsAfter")["data"] == sorted(["sdk", f"tag-{suffix}"])


def test_domains_and_mercure(run: dict[str, Any], fleet: Fleet) -> None:
    domain = run["domain"]
    nothing = {"baseUrlRedirect": None, "regular404Redirect": None, "invalidShortUrlRedirect": None}
    domains = _value(run, "listDomains")
    assert domains["data"][0] == {
        "domain": fleet.url.split("://", 1)[1], "isDefault": True, "redirects": nothing,
    }  # fmt: skip
    assert {"domain": domain, "isDefault": False, "redirects": nothing} in domains["data"]
    assert domains["defaultRedirects"] == nothing
    redirects = {
        "baseUrlRedirect": "https://example.org/sdk-home",
        "regular404Redirect": None,
        "invalidShortUrlRedirect": "https://example.org/sdk-missing",
    }
    assert "administrator" in _problem(run, "editDomainRedirectsForbidden", 403)["detail"]
    assert _value(run, "editDomainRedirects") == redirects
    after = _value(run, "listDomainsAfter")["data"]
    assert {"domain": domain, "isDefault": False, "redirects": redirects} in after
    # Through nginx, on whichever replica answers: the new fallbacks of the domain.
    assert run["visitDomainRoot"] == {"status": 302, "location": redirects["baseUrlRedirect"]}
    missing = run["visitDomainMissing"]
    assert missing == {"status": 302, "location": redirects["invalidShortUrlRedirect"]}
    assert _value(run, "editDefaultDomainNull") == nothing
    refused = _problem(run, "editDefaultDomain", 400, "invalid-data")
    assert refused["invalidElements"] == ["baseUrlRedirect"]
    unknown = _problem(run, "editUnknownDomain", 404, "domain-not-found")
    assert unknown["authority"] == f"nowhere-{run['suffix']}.example"
    _problem(run, "mercureInfo", 501, "mercure-not-configured")


def test_a_short_url_on_a_second_domain(run: dict[str, Any]) -> None:
    """The same short code on the added domain is a second link, with its own short URL."""
    slug, domain = f"shlink-{run['suffix']}", run["domain"]
    created = _value(run, "createOnDomain")
    assert (created["shortCode"], created["domain"]) == (slug, domain)
    assert created["shortUrl"] == f"http://{domain}/{slug}"
    assert created["longUrl"].endswith("/on-domain")
    assert _value(run, "getOnDomain") == created
    assert _value(run, "getOnDefaultDomain")["domain"] is None
    listed = _value(run, "listOnDomain")
    assert [(item["shortCode"], item["domain"]) for item in listed["data"]] == [(slug, domain)]
    assert _value(run, "domainVisitsOnDomain")["data"] == []
    assert run["visitOnDomain"] == {"status": 302, "location": created["longUrl"]}
    assert run["deleteOnDomain"] == {"ok": True, "value": None}
    _problem(run, "getOnDomainDeleted", 404, "short-url-not-found")


def test_errors_reach_the_client_as_shlink_problems(run: dict[str, Any]) -> None:
    taken = _problem(run, "takenSlug", 400, "non-unique-slug")
    assert taken["customSlug"] == f"shlink-{run['suffix']}"
    assert "read-only" in _problem(run, "readOnlyCreate", 403)["detail"]
    assert _value(run, "readOnlyList")["pagination"]["totalItems"] == 2
    _problem(run, "badKey", 401, "invalid-api-key")


def test_crawlable_and_forward_query(run: dict[str, Any]) -> None:
    """The SDK's flags are honoured: the query is forwarded (the visit's value wins) and the
    fleet's robots.txt, through nginx, allows the crawlable link; editing both turns them off."""
    created = _value(run, "flagsCreate")
    assert (created["crawlable"], created["forwardQuery"]) == (True, True)
    long_url = f"https://example.org/shlink-client/{run['suffix']}/flags"
    assert run["flagsVisit"]["location"] == f"{long_url}?from=visit&utm_source=sdk"
    assert f"Allow: /flags-{run['suffix']}$\n" in run["robots"]
    assert run["robots"].endswith("Disallow: /\n")
    edited = _value(run, "flagsEdit")
    assert (edited["crawlable"], edited["forwardQuery"]) == (False, False)
    assert run["flagsVisitAfterEdit"]["location"] == f"{long_url}?from=target"
    assert run["flagsDelete"] == {"ok": True, "value": None}


def test_delete(run: dict[str, Any], fleet: Fleet) -> None:
    assert run["deleteGenerated"] == {"ok": True, "value": None}
    assert run["delete"] == {"ok": True, "value": None}
    _problem(run, "getDeleted", 404, "short-url-not-found")
    gone = requests.get(f"{fleet.url}/shlink-{run['suffix']}", timeout=10, allow_redirects=False)
    assert gone.status_code == 404


def test_the_example_of_docs_shlink_md_runs_as_written(fleet: Fleet, tmp_path: Path) -> None:
    """docs/SHLINK.md's JavaScript example, with only the address of this fleet put in."""
    key = fleet.api_key(EMAIL, "shlink docs")
    placeholder = '"https://lnk.example"'
    run_docs_example("SHLINK.md", SDK, placeholder, f'"{fleet.url}"', key, tmp_path)
    assert requests.get(f"{fleet.url}/demo", timeout=10).status_code == 404  # removed again


def test_counted_clicks_reach_the_visit_summaries(fleet: Fleet) -> None:
    """Clicks through nginx, counted by the fleet's analytics worker, show in the short URL's
    ``visitsSummary``, the tag stats and the overview; deleting the visits erases them."""
    key = fleet.api_key(EMAIL, "shlink visits")
    api = requests.Session()
    api.headers["X-Api-Key"] = key
    rest = f"{fleet.url}/rest/v3"
    slug = f"clicked-{uuid.uuid4().hex[:8]}"
    created = api.post(
        f"{rest}/short-urls",
        json={"longUrl": "https://example.org/clicked", "customSlug": slug, "tags": ["clicked"]},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    for agent in (FIREFOX, FIREFOX, None):  # python-requests' own agent counts as a bot
        headers = {"User-Agent": agent} if agent else {}
        visit = requests.get(
            f"{fleet.url}/{slug}", headers=headers, allow_redirects=False, timeout=10
        )
        assert visit.status_code == 302
    summary: dict[str, int] = {}
    for _ in range(120):  # the worker counts within seconds; a busy machine may take longer
        summary = api.get(f"{rest}/short-urls/{slug}", timeout=10).json()["visitsSummary"]
        if summary["total"] == 3:
            break
        time.sleep(0.5)
    assert summary == {"total": 3, "nonBots": 2, "bots": 1}
    stats = api.get(f"{rest}/tags/stats", timeout=10).json()["tags"]["data"]
    assert {"tag": "clicked", "shortUrlsCount": 1, "visitsSummary": summary} in stats
    overview = api.get(f"{rest}/visits", timeout=10).json()["visits"]
    assert overview["nonOrphanVisits"]["total"] >= 3
    erased = api.delete(f"{rest}/short-urls/{slug}/visits", timeout=10)
    assert erased.json() == {"deletedVisits": 3}
    after = api.get(f"{rest}/short-urls/{slug}", timeout=10).json()["visitsSummary"]
    assert after == {"total": 0, "nonBots": 0, "bots": 0}
    assert api.delete(f"{rest}/short-urls/{slug}", timeout=10).status_code == 204
