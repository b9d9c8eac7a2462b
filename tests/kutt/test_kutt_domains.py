"""Domains through Kutt's API: links created on an added domain, their shape, the domains
``GET /users`` lists and the refused domain writes (docs/KUTT.md), on SQLite and PostgreSQL
with the real Redis."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask

from tests.domains.conftest import link_on, new_domain
from tests.fixtures.accounts import AccountFactory
from tests.kutt.conftest import KuttClient, error_of

pytestmark = pytest.mark.integration

GO = "go.example.com"
GO_TLS = "go.example.com:8443"
REFUSED = (
    "Domains are added and removed by an administrator of LinkFleet (linkfleet domains, or "
    "/api/v1/domains); the Kutt API does not change them."
)


SPELLINGS = [GO, "GO.Example.com", "go.example.com:443", "go.example.com."]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_link_on_an_added_domain_in_any_spelling(
    app: Flask, kutt: KuttClient, spelling: str
) -> None:
    new_domain(app, GO)
    link = kutt.create(target="https://example.com/go", customurl="go-promo", domain=spelling)
    assert link["domain"] == GO
    assert link["link"] == f"http://{GO}/go-promo"
    visit = kutt.client.get("/go-promo", headers={"Host": GO})
    assert (visit.status_code, visit.headers["Location"]) == (302, "https://example.com/go")
    assert kutt.client.get("/go-promo").status_code == 404  # not on the default domain


def test_the_port_tells_two_domains_apart(app: Flask, kutt: KuttClient) -> None:
    new_domain(app, GO_TLS)
    link = kutt.create(customurl="tls", domain="GO.example.com:8443")
    assert (link["domain"], link["link"]) == (GO_TLS, f"http://{GO_TLS}/tls")
    for other in (GO, "go.example.com:9443"):
        response = kutt.request(
            "POST", "/links", json={"target": "https://example.com/", "domain": other}
        )
        assert error_of(response, 400) == "You can't use this domain."


def test_the_same_custom_url_on_two_domains_is_two_links(app: Flask, kutt: KuttClient) -> None:
    new_domain(app, GO)
    on_default = kutt.create(target="https://example.com/default", customurl="twice")
    on_go = kutt.create(target="https://example.com/go", customurl="twice", domain=GO)
    assert on_default["id"] != on_go["id"]
    assert (on_default["domain"], on_go["domain"]) == (None, GO)
    again = kutt.request(
        "POST", "/links", json={"target": "https://e.com/", "customurl": "twice", "domain": GO}
    )
    assert error_of(again, 409) == "Custom URL is already in use."
    listed = kutt.request("GET", "/links").get_json()["data"]
    assert [(item["id"], item["domain"]) for item in listed] == [
        (on_go["id"], GO),
        (on_default["id"], None),
    ]
    assert kutt.client.get("/twice").headers["Location"] == "https://example.com/default"
    assert kutt.client.get("/twice", headers={"Host": GO}).headers["Location"] == (
        "https://example.com/go"
    )


def test_edit_stats_and_delete_work_per_id_on_a_domain(app: Flask, kutt: KuttClient) -> None:
    new_domain(app, GO)
    kutt.create(customurl="kept")  # the default domain's, never touched below
    link = kutt.create(customurl="on-go", domain=GO)
    path = f"/links/{link['id']}"
    # A short name taken on the default domain is free on this one.
    changed = kutt.request("PATCH", path, json={"address": "kept", "description": "Moved"})
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["link"], changed.get_json()["domain"]) == (f"http://{GO}/kept", GO)
    stats = kutt.request("GET", f"{path}/stats").get_json()
    assert (stats["address"], stats["domain"], stats["link"]) == ("kept", GO, f"http://{GO}/kept")
    deleted = kutt.request("DELETE", path)
    assert deleted.get_json() == {"message": "Link has been deleted successfully."}
    assert kutt.client.get("/kept", headers={"Host": GO}).status_code == 404
    assert kutt.client.get("/kept").status_code == 302


def test_reuse_answers_a_link_on_the_same_domain_only(app: Flask, kutt: KuttClient) -> None:
    new_domain(app, GO)
    on_default = kutt.create(target="https://example.com/same")
    fresh = kutt.request(
        "POST", "/links", json={"target": "https://example.com/same", "reuse": True, "domain": GO}
    )
    assert fresh.status_code == 201
    assert fresh.get_json()["domain"] == GO
    again = kutt.request(
        "POST", "/links", json={"target": "https://example.com/same", "reuse": True, "domain": GO}
    )
    assert (again.status_code, again.get_json()) == (200, fresh.get_json())
    default = kutt.request(
        "POST", "/links", json={"target": "https://example.com/same", "reuse": "1"}
    )
    assert default.get_json()["id"] == on_default["id"]


def test_users_lists_every_added_domain_in_kutts_shape(app: Flask, kutt: KuttClient) -> None:
    new_domain(app, GO_TLS)
    new_domain(app, GO, root_redirect="https://home.example/")
    link_on(app, "elsewhere", "https://example.com/", domain=GO)  # another account's link
    domains = kutt.request("GET", "/users", key=kutt.account.read_key).get_json()["domains"]
    assert [domain["address"] for domain in domains] == [GO, GO_TLS]
    go = domains[0]
    assert set(go) == {"address", "banned", "created_at", "homepage", "id", "updated_at"}
    assert (go["banned"], go["homepage"], domains[1]["homepage"]) == (
        False,
        "https://home.example/",
        None,
    )
    assert len(go["id"]) == 36
    assert uuid.UUID(go["id"]) != uuid.UUID(domains[1]["id"])
    assert go["created_at"].endswith("Z")
    assert go["updated_at"] == go["created_at"]
    # The address is what a create names the domain with.
    assert kutt.create(domain=go["address"])["domain"] == GO


def test_domains_are_not_added_or_removed_through_kutt(
    app: Flask, kutt: KuttClient, make_account: AccountFactory
) -> None:
    new_domain(app, GO)
    admin = make_account("root@example.com", admin=True)
    listed = kutt.request("GET", "/users").get_json()["domains"]
    for key in (kutt.account.key, admin.key):
        added = kutt.request("POST", "/domains", key=key, json={"address": "own.example"})
        assert error_of(added, 403) == REFUSED
        removed = kutt.request("DELETE", f"/domains/{listed[0]['id']}", key=key)
        assert error_of(removed, 403) == REFUSED
    assert kutt.request("GET", "/users").get_json()["domains"] == listed
    read_only = kutt.request("POST", "/domains", key=kutt.account.read_key, json={})
    assert "read-only" in error_of(read_only, 403)
    assert error_of(kutt.request("DELETE", f"/domains/{uuid.uuid4()}", key=""), 401) == (
        "Unauthorized."
    )
    wrong = kutt.request("GET", "/domains")
    assert (error_of(wrong, 405), wrong.headers["Allow"]) == ("Method not allowed.", "POST")
