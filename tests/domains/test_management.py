"""Managing domains: the CLI, ``/api/v1/domains`` and the admin page, errors included, and
the link field ``domain`` through the API, the import and the export (both databases)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from service.accounts.models import User
from service.extensions import db
from service.links.services import create_link
from tests.api.conftest import assert_problem
from tests.domains.conftest import link_on, new_domain
from tests.fixtures.accounts import AccountFactory, ApiClient
from tests.fixtures.users import WebHelper

pytestmark = pytest.mark.integration

GO = "go.example.com"


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_add_list_set_redirects_remove(app: Flask, runner: FlaskCliRunner) -> None:
    added = runner.invoke(
        args=["domains", "add", "GO.Example.com", "--root-redirect", "https://home.example/"]
    )
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == GO
    assert runner.invoke(args=["domains", "add", "bücher.example:8443"]).exit_code == 0
    listed = runner.invoke(args=["domains", "list"]).stdout.splitlines()
    assert listed == [
        f"{GO}\t0\thttps://home.example/\t-\t-",
        "xn--bcher-kva.example:8443\t0\t-\t-\t-",
    ]
    changed = runner.invoke(
        args=[
            "domains",
            "set-redirects",
            GO,
            "--root-redirect",
            "",
            "--expired-redirect",
            "https://home.example/x",
        ]
    )
    assert changed.exit_code == 0, changed.output
    assert runner.invoke(args=["domains", "list"]).stdout.splitlines()[0] == (
        f"{GO}\t0\t-\t-\thttps://home.example/x"
    )
    assert runner.invoke(args=["domains", "remove", "xn--bcher-kva.example:8443"]).exit_code == 0
    assert len(runner.invoke(args=["domains", "list"]).stdout.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "https://go.example.com/"], "without http://"),
        (["add", "go example"], "no spaces"),
        (["add", "go.example.com:99999"], "port"),
        (["add", "go.example.com", "--not-found-redirect", "javascript:alert(1)"], "http"),
        (["add", GO], "already a domain"),
        (["set-redirects", GO], "at least one"),
        (["set-redirects", "nowhere.example", "--root-redirect", ""], "not an added domain"),
        (["remove", "nowhere.example"], "not an added domain"),
        (["remove", GO], "still has 1 link"),
    ],
    ids=[
        "url",
        "space",
        "port",
        "bad-fallback",
        "taken",
        "no-option",
        "unknown",
        "remove-unknown",
        "in-use",
    ],
)
def test_cli_errors_are_one_clear_line(
    app: Flask, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    new_domain(app, GO)
    link_on(app, "promo", "https://go.example/", domain=GO)
    result = runner.invoke(args=["domains", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


# -- API ----------------------------------------------------------------------------------------


@pytest.fixture
def admin_api(client: FlaskClient, make_account: AccountFactory) -> ApiClient:
    return ApiClient(client, make_account("root@example.com", admin=True))


def test_api_create_list_read_patch_delete(admin_api: ApiClient) -> None:
    created = admin_api.post(
        "/api/v1/domains",
        json={"host": "Go.Example.com:443", "root_redirect": "https://home.example/"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["host"] == GO
    assert created.headers["Location"].endswith(f"/api/v1/domains/{GO}")
    assert [d["host"] for d in admin_api.get("/api/v1/domains").get_json()] == [GO]
    patched = admin_api.request(
        "PATCH",
        f"/api/v1/domains/{GO}",
        json={"root_redirect": None, "expired_redirect": "https://home.example/e"},
    )
    assert patched.status_code == 200
    shown = admin_api.get(f"/api/v1/domains/{GO}").get_json()
    assert (shown["root_redirect"], shown["expired_redirect"], shown["links"]) == (
        None,
        "https://home.example/e",
        0,
    )
    assert admin_api.request("DELETE", f"/api/v1/domains/{GO}").status_code == 204
    assert_problem(admin_api.get(f"/api/v1/domains/{GO}"), 404)


def test_api_errors_are_problems(admin_api: ApiClient, api: ApiClient) -> None:
    assert_problem(api.get("/api/v1/domains"), 403)  # alice is no administrator
    assert_problem(api.post("/api/v1/domains", json={"host": GO}), 403)
    bad = assert_problem(
        admin_api.post("/api/v1/domains", json={"host": "a b", "root_redirect": "ftp://x"}), 422
    )
    assert {"host", "root_redirect"} <= set(bad["errors"])
    assert_problem(admin_api.post("/api/v1/domains", json={"host": 5}), 422)
    assert_problem(admin_api.post("/api/v1/domains", json={"host": GO, "extra": 1}), 422)
    assert admin_api.post("/api/v1/domains", json={"host": GO}).status_code == 201
    assert_problem(admin_api.post("/api/v1/domains", json={"host": GO.upper()}), 409)
    created = admin_api.post(
        "/api/v1/links", json={"url": "https://go.example/", "slug": "x", "domain": GO}
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    in_use = assert_problem(admin_api.request("DELETE", f"/api/v1/domains/{GO}"), 409)
    assert "still has 1 link" in in_use["errors"]["host"][0]
    assert_problem(admin_api.request("PATCH", "/api/v1/domains/nowhere.example", json={}), 404)


def test_links_carry_their_domain_in_the_api(admin_api: ApiClient, app: Flask) -> None:
    new_domain(app, GO)
    default = admin_api.post("/api/v1/links", json={"url": "https://a.example/", "slug": "same"})
    branded = admin_api.post(
        "/api/v1/links",
        json={"url": "https://b.example/", "slug": "same", "domain": "GO.example.com"},
    )
    assert (default.status_code, branded.status_code) == (201, 201)
    assert default.get_json()["domain"] is None
    assert default.get_json()["short_url"] == "http://localhost/same"
    assert branded.get_json()["domain"] == GO
    assert branded.get_json()["short_url"] == f"http://{GO}/same"
    assert (
        admin_api.get(f"/api/v1/links/same?domain={GO}").get_json()["url"] == "https://b.example/"
    )
    assert admin_api.get("/api/v1/links/same").get_json()["url"] == "https://a.example/"
    taken = admin_api.post(
        "/api/v1/links", json={"url": "https://c.example/", "slug": "same", "domain": GO}
    )
    assert_problem(taken, 409)
    unknown = assert_problem(
        admin_api.post(
            "/api/v1/links", json={"url": "https://c.example/", "domain": "nowhere.example"}
        ),
        422,
    )
    assert "not a domain of this service" in unknown["errors"]["domain"][0]
    moved = admin_api.request("PATCH", "/api/v1/links/same", json={"domain": GO})
    assert_problem(moved, 409)  # "same" is taken on go.example.com
    back = admin_api.request(
        "PATCH", f"/api/v1/links/same?domain={GO}", json={"domain": None, "slug": "other"}
    )
    assert back.status_code == 200, back.get_data(as_text=True)
    assert (back.get_json()["domain"], back.get_json()["short_url"]) == (
        None,
        "http://localhost/other",
    )
    qr = admin_api.get("/api/v1/links/same/qr.svg")
    assert qr.status_code == 200


def test_import_and_export_round_trip_with_domains(admin_api: ApiClient, app: Flask) -> None:
    new_domain(app, GO)
    body = "url,slug,domain\nhttps://a.example/,promo,\nhttps://b.example/,promo,go.example.com\n"
    report = admin_api.post("/api/v1/links/import", data=body, content_type="text/csv")
    assert report.status_code == 200, report.get_data(as_text=True)
    assert report.get_json()["created"] == 2
    exported = admin_api.get("/api/v1/links/export?format=csv").get_data(as_text=True)
    rows = {(row["domain"], row["slug"]): row for row in csv.DictReader(io.StringIO(exported))}
    assert rows[("", "promo")]["url"] == "https://a.example/"
    assert rows[(GO, "promo")]["short_url"] == f"http://{GO}/promo"
    as_json = json.loads(admin_api.get("/api/v1/links/export?format=json").get_data(as_text=True))
    assert sorted((link["domain"] or "", link["url"]) for link in as_json) == [
        ("", "https://a.example/"),
        (GO, "https://b.example/"),
    ]
    # The export imports again as updates, each on its own domain.
    again = admin_api.post(
        "/api/v1/links/import?on_conflict=update", data=exported, content_type="text/csv"
    )
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["updated"] == 2
    client = admin_api.client
    assert client.get("/promo", headers={"Host": GO}).headers["Location"] == "https://b.example/"
    assert client.get("/promo").headers["Location"] == "https://a.example/"


# -- the admin page -----------------------------------------------------------------------------


def test_admin_page_adds_edits_and_refuses_to_remove_a_domain_in_use(
    app: Flask, client: FlaskClient, web: WebHelper
) -> None:
    web.create_user("root@example.com", admin=True)
    web.log_in(client, "root@example.com")
    page = client.get("/dashboard")
    assert 'href="/dashboard/domains"' in page.get_data(as_text=True)
    added = web.submit(
        client, "/dashboard/domains", {"host": "Go.Example.com", "root_redirect": ""}
    )
    assert added.status_code == 302
    listed = client.get("/dashboard/domains").get_data(as_text=True)
    assert f"<code>{GO}</code>" in listed
    bad = web.submit(client, "/dashboard/domains", {"host": "go example"})
    assert bad.status_code == 422
    assert "no spaces" in bad.get_data(as_text=True)
    taken = web.submit(client, "/dashboard/domains", {"host": GO})
    assert taken.status_code == 409
    saved = web.submit(
        client,
        f"/dashboard/domains/{GO}",
        {"host": GO, "root_redirect": "https://home.example/", "action": "save"},
        form_path="/dashboard/domains",
    )
    assert saved.status_code == 302
    assert client.get("/", headers={"Host": GO}).headers["Location"] == "https://home.example/"
    wrong = web.submit(
        client,
        f"/dashboard/domains/{GO}",
        {"host": GO, "expired_redirect": "javascript:x", "action": "save"},
        form_path="/dashboard/domains",
    )
    assert wrong.status_code == 422
    link_on(app, "promo", "https://go.example/", domain=GO)
    refused = web.submit(
        client,
        f"/dashboard/domains/{GO}",
        {"host": GO, "action": "remove"},
        form_path="/dashboard/domains",
    )
    assert refused.status_code == 409
    assert "still has 1 link" in refused.get_data(as_text=True)


def test_admin_page_is_for_administrators_only(client: FlaskClient, web: WebHelper) -> None:
    web.create_user("user@example.com")
    web.log_in(client, "user@example.com")
    assert 'href="/dashboard/domains"' not in client.get("/dashboard").get_data(as_text=True)
    assert client.get("/dashboard/domains").status_code == 403


def test_the_dashboard_creates_a_link_on_a_domain(
    app: Flask, client: FlaskClient, web: WebHelper
) -> None:
    new_domain(app, GO)
    web.create_user("user@example.com")
    web.log_in(client, "user@example.com")
    created = web.submit(
        client, "/dashboard/new", {"url": "https://go.example/", "slug": "dash", "domain": GO}
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    assert created.headers["Location"].endswith(f"/dashboard/links/dash?domain={GO}")
    detail = client.get(created.headers["Location"]).get_data(as_text=True)
    assert f"http://{GO}/dash" in detail
    assert client.get("/dash", headers={"Host": GO}).headers["Location"] == "https://go.example/"


def test_the_stats_pages_of_a_link_on_a_domain(
    app: Flask, client: FlaskClient, web: WebHelper
) -> None:
    """The dashboard's statistics links carry the domain, and each page finds the link."""
    new_domain(app, GO)
    user_id = web.create_user("stats@example.com")
    web.log_in(client, "stats@example.com")
    with app.app_context():
        create_link(db.session.get(User, user_id), url="https://go.example/", slug="st", domain=GO)
    detail = client.get(f"/dashboard/links/st?domain={GO}").get_data(as_text=True)
    stats_path = f"/dashboard/links/st/stats?domain={GO}"
    assert stats_path in detail
    page = client.get(stats_path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'name="domain" value="{GO}"' in html
    assert f"&amp;domain={GO}" in html  # the presets keep it
    assert client.get(f"/dashboard/links/st/stats/visits.csv?domain={GO}").status_code == 200
    assert client.get("/dashboard/links/st/stats").status_code == 404  # not on the default domain
