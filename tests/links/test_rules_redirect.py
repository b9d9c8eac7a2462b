"""Redirect rules through the test client, on real Redis and both databases.

Every test runs through both paths a redirect can take, as in ``test_views``: Flask's full
dispatch, and the redirect lane (a cached link with rules is still plain: the lane evaluates
the rules itself, with the same :func:`~service.links.views.redirect_answer`).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.links.cache import link_cache
from service.links.services import create_link, get_link_for, update_link
from service.redirect_lane import RedirectLane
from tests.fixtures.app import QueryCounter
from tests.fixtures.links import quiesce_link_cache
from tests.fixtures.replicas import ReplicaFactory
from tests.fixtures.users import UserFactory
from tests.links.test_cache import caught_up, wait_for_listener
from tests.links.test_views import full_dispatches, visits_recorded

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("redirect_path")]

TARGET = "https://example.com/landing"
RULE_TARGET = "https://example.com/for-them"
COUNTRY_HEADER = "CF-IPCountry"

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"
)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
GOOGLEBOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """The country header our (test) proxy sets; 127.0.0.1, the test client, is trusted."""
    return {"ANALYTICS_COUNTRY_HEADER": COUNTRY_HEADER}


def rule(*conditions: dict[str, str], url: str = RULE_TARGET) -> dict[str, Any]:
    return {"url": url, "conditions": list(conditions)}


def new_link(app: Flask, make_user: UserFactory, *rules: dict[str, Any], **fields: Any) -> str:
    fields.setdefault("url", TARGET)
    with app.app_context():
        return create_link(make_user(), rules=list(rules), **fields).slug


# (condition, request that matches, request that does not); a request is test-client kwargs.
CASES: dict[str, tuple[dict[str, str], dict[str, Any], dict[str, Any]]] = {
    "device-ios": (
        {"type": "device", "value": "ios"},
        {"headers": {"User-Agent": IPHONE}},
        {"headers": {"User-Agent": PIXEL}},
    ),
    "device-android": (
        {"type": "device", "value": "android"},
        {"headers": {"User-Agent": PIXEL}},
        {"headers": {"User-Agent": IPHONE}},
    ),
    "device-desktop": (
        {"type": "device", "value": "desktop"},
        {"headers": {"User-Agent": LINUX_FIREFOX}},
        {"headers": {"User-Agent": GOOGLEBOT}},
    ),
    "browser-firefox": (
        {"type": "browser", "value": "Firefox"},
        {"headers": {"User-Agent": LINUX_FIREFOX}},
        {"headers": {"User-Agent": WINDOWS_EDGE}},
    ),
    "browser-safari-on-mobile": (
        {"type": "browser", "value": "safari"},
        {"headers": {"User-Agent": IPHONE}},
        {"headers": {"User-Agent": PIXEL}},
    ),
    "browser-edge": (
        {"type": "browser", "value": "edge"},
        {"headers": {"User-Agent": WINDOWS_EDGE}},
        {"headers": {"User-Agent": LINUX_FIREFOX}},
    ),
    "language-primary-tag": (
        {"type": "language", "value": "fr"},
        {"headers": {"Accept-Language": "fr-CA,fr;q=0.9"}},
        {"headers": {"Accept-Language": "de-DE,en;q=0.5"}},
    ),
    "language-refused-with-q0": (
        {"type": "language", "value": "fr"},
        {"headers": {"Accept-Language": "en, fr;q=0.2"}},
        {"headers": {"Accept-Language": "en, fr;q=0"}},
    ),
    "country-from-the-trusted-proxy": (
        {"type": "country", "value": "fr"},
        {"headers": {COUNTRY_HEADER: "FR"}},
        {"headers": {COUNTRY_HEADER: "DE"}},
    ),
    "country-sent-by-the-client-itself": (
        {"type": "country", "value": "FR"},
        {"headers": {COUNTRY_HEADER: "FR"}},
        {"headers": {COUNTRY_HEADER: "FR"}, "environ_base": {"REMOTE_ADDR": "198.51.100.7"}},
    ),
    "query": (
        {"type": "query", "name": "utm_source", "value": "mail"},
        {"query_string": "utm_source=mail&x=1"},
        {"query_string": "utm_source=web"},
    ),
    "after": (
        {"type": "after", "value": "2001-01-01T00:00:00Z"},
        {},
        None,  # never false again: the not-matching side is the "before" case's
    ),
    "before-passed": (
        {"type": "before", "value": "2001-01-01T00:00:00Z"},
        None,
        {},
    ),
    "before": (
        {"type": "before", "value": "2999-01-01T00:00:00Z"},
        {},
        None,
    ),
    "after-not-yet": (
        {"type": "after", "value": "2999-01-01T00:00"},
        None,
        {},
    ),
    "network-behind-the-proxy": (
        {"type": "network", "value": "203.0.113.0/24"},
        {"headers": {"X-Forwarded-For": "203.0.113.77"}},
        {"headers": {"X-Forwarded-For": "198.51.100.77"}},
    ),
    "network-forwarded-for-spoofed": (
        {"type": "network", "value": "203.0.113.0/24"},
        {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}},
        {"headers": {"X-Forwarded-For": "203.0.113.9"}, "environ_base": {"REMOTE_ADDR": "1.2.3.4"}},
    ),
    "network-ipv6": (
        {"type": "network", "value": "2001:db8::/32"},
        {"headers": {"X-Forwarded-For": "2001:db8::1"}},
        {"headers": {"X-Forwarded-For": "2001:db9::1"}},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_condition_matches_and_does_not(
    app: Flask, client: FlaskClient, make_user: UserFactory, case: str
) -> None:
    condition, matching, other = CASES[case]
    slug = new_link(app, make_user, rule(condition))
    for request, expected in ((matching, RULE_TARGET), (other, TARGET)):
        if request is None:
            continue
        response = client.get(f"/{slug}", **request)
        assert response.status_code == 302
        assert response.headers["Location"] == expected, (case, request)


def test_all_conditions_of_a_rule_must_match(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(
        app,
        make_user,
        rule({"type": "device", "value": "ios"}, {"type": "language", "value": "fr"}),
    )
    french_iphone = {"User-Agent": IPHONE, "Accept-Language": "fr-FR"}
    assert client.get(f"/{slug}", headers=french_iphone).headers["Location"] == RULE_TARGET
    german_iphone = {"User-Agent": IPHONE, "Accept-Language": "de-DE"}
    assert client.get(f"/{slug}", headers=german_iphone).headers["Location"] == TARGET
    french_pixel = {"User-Agent": PIXEL, "Accept-Language": "fr-FR"}
    assert client.get(f"/{slug}", headers=french_pixel).headers["Location"] == TARGET


def test_the_first_matching_rule_wins(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(
        app,
        make_user,
        rule({"type": "device", "value": "android"}, url="https://example.com/android"),
        rule({"type": "language", "value": "fr"}, url="https://example.com/french"),
        rule({"type": "after", "value": "2001-01-01T00:00Z"}, url="https://example.com/anyone"),
    )
    french_android = {"User-Agent": PIXEL, "Accept-Language": "fr"}
    assert (
        client.get(f"/{slug}", headers=french_android).headers["Location"]
        == "https://example.com/android"
    )
    french_iphone = {"User-Agent": IPHONE, "Accept-Language": "fr"}
    assert (
        client.get(f"/{slug}", headers=french_iphone).headers["Location"]
        == "https://example.com/french"
    )
    assert client.get(f"/{slug}").headers["Location"] == "https://example.com/anyone"


def test_no_matching_rule_falls_back_to_the_links_url(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(
        app,
        make_user,
        rule({"type": "country", "value": "JP"}),
        rule({"type": "query", "name": "v", "value": "2"}),
        redirect_type=307,
    )
    response = client.get(f"/{slug}?v=3", headers={COUNTRY_HEADER: "FR"})
    assert response.status_code == 307
    assert response.headers["Location"] == TARGET


@pytest.mark.parametrize("status", [301, 302, 308])
def test_rule_links_are_never_cached(
    app: Flask, client: FlaskClient, make_user: UserFactory, status: int
) -> None:
    """A browser or proxy keeping a permanent redirect would send every later visitor to
    the first visitor's target: whatever the status, nothing may be stored."""
    slug = new_link(app, make_user, rule({"type": "device", "value": "ios"}), redirect_type=status)
    for agent, target in ((IPHONE, RULE_TARGET), (PIXEL, TARGET)):
        response = client.get(f"/{slug}", headers={"User-Agent": agent})
        assert response.status_code == status
        assert response.headers["Location"] == target
        assert response.headers["Cache-Control"] == "private, no-store"


def test_a_rule_matched_redirect_is_a_visit(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, rule({"type": "device", "value": "ios"}))
    with visits_recorded() as calls:
        client.get(f"/{slug}", headers={"User-Agent": IPHONE})
        head = client.head(f"/{slug}", headers={"User-Agent": IPHONE})
    assert head.headers["Location"] == RULE_TARGET
    assert [call["slug"] for call in calls] == [slug]  # the GET; HEAD records nothing
    assert calls[0]["request"].headers["User-Agent"] == IPHONE


def test_rule_targets_keep_their_encoding(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(
        app,
        make_user,
        rule({"type": "language", "value": "de"}, url="https://bücher.example/ä?q=ü"),
    )
    response = client.get(f"/{slug}", headers={"Accept-Language": "de"})
    assert response.headers["Location"] == "https://xn--bcher-kva.example/%C3%A4?q=%C3%BC"


def test_the_lane_serves_cached_rule_links(
    app: Flask, client: FlaskClient, make_user: UserFactory, redirect_path: str
) -> None:
    slug = new_link(app, make_user, rule({"type": "device", "value": "ios"}))
    quiesce_link_cache(app)
    with full_dispatches(app) as dispatched:
        client.get(f"/{slug}", headers={"User-Agent": IPHONE})
    assert dispatched == ([] if redirect_path == "redirect-lane" else [f"/{slug}"])


def test_a_cached_rule_link_costs_no_sql(
    app: Flask, client: FlaskClient, make_user: UserFactory, count_queries: QueryCounter
) -> None:
    slug = new_link(
        app, make_user, *(rule({"type": "query", "name": "n", "value": str(n)}) for n in range(5))
    )
    quiesce_link_cache(app)
    client.get(f"/{slug}")  # fills the caches
    before = count_queries.count
    for n in range(6):
        client.get(f"/{slug}?n={n}")
    assert count_queries.count == before


def test_an_edit_of_the_rules_is_served_at_once(
    app: Flask, client: FlaskClient, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, rule({"type": "device", "value": "ios"}))
    iphone = {"User-Agent": IPHONE}
    assert client.get(f"/{slug}", headers=iphone).headers["Location"] == RULE_TARGET
    with app.app_context():
        link = get_link_for(make_user(admin=True), slug)
        update_link(link, rules=[rule({"type": "device", "value": "android"})])
    assert client.get(f"/{slug}", headers=iphone).headers["Location"] == TARGET
    with app.app_context():
        update_link(get_link_for(make_user(admin=True), slug), rules=None)
    response = client.get(f"/{slug}", headers={"User-Agent": PIXEL})
    assert response.headers["Location"] == TARGET
    assert response.headers["Cache-Control"] == "private, max-age=0"  # plain again


def test_both_paths_send_the_same_headers_for_rule_links(
    app: Flask, make_user: UserFactory
) -> None:
    slug = new_link(app, make_user, rule({"type": "device", "value": "ios"}), redirect_type=301)
    for agent in (IPHONE, PIXEL):
        seen = []
        for lane in (None, RedirectLane(app)):  # type: ignore[arg-type]
            app.fast_lane = lane  # type: ignore[attr-defined]
            with app.app_context():
                link_cache.lookup(slug)
            response = app.test_client().get(
                f"/{slug}", headers={"X-Request-ID": "req-0123456789", "User-Agent": agent}
            )
            seen.append(sorted(item for item in response.headers.items() if item[0] != "Vary"))
        assert seen[0] == seen[1]


def test_a_rules_edit_reaches_every_replica(
    app: Flask, make_user: UserFactory, replica_factory: ReplicaFactory
) -> None:
    """Rules are a field like any other: the edit's invalidation evicts replica 2's L1
    record, and the next visit there compiles the new rules (how fast through a real fleet
    is the e2e suite's, as for any edit)."""
    two = replica_factory("replica-2").test_client()
    slug = new_link(app, make_user, rule({"type": "device", "value": "ios"}))
    iphone = {"User-Agent": IPHONE}
    two.get("/warm-up")
    wait_for_listener(two.application)
    caught_up(app, two.application)  # the creation's late invalidation must not evict below
    assert two.get(f"/{slug}", headers=iphone).headers["Location"] == RULE_TARGET
    assert slug in link_cache.state(two.application).l1  # replica 2 serves it from memory

    with app.app_context():
        link = get_link_for(make_user(admin=True), slug)
        update_link(link, rules=[rule({"type": "device", "value": "ios"}, url=TARGET + "/new")])
    caught_up(app, two.application)
    assert two.get(f"/{slug}", headers=iphone).headers["Location"] == TARGET + "/new"
