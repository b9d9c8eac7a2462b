"""The dashboard pages of the API (keys, import/export) and the API docs page and spec."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.api.keys import KEY_PATTERN, find_active_key
from service.extensions import db
from tests.fixtures.users import WebHelper

KEY_IN_PAGE = re.compile(r'value="(lf_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43})"')


@pytest.fixture
def carol(web: WebHelper, client: FlaskClient) -> int:
    """Carol exists and ``client`` is logged in as her."""
    user_id = web.create_user("carol@example.com")
    web.log_in(client, "carol@example.com")
    return user_id


@pytest.mark.parametrize("path", ["/dashboard/api-keys", "/dashboard/import-export"])
def test_pages_require_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_create_list_use_and_revoke_a_key(
    client: FlaskClient, carol: int, web: WebHelper, app: Flask
) -> None:
    page = client.get("/dashboard/api-keys").get_data(as_text=True)
    assert "No API keys yet" in page
    assert 'href="/dashboard/api-keys"' in page  # in the navigation

    response = web.submit(client, "/dashboard/api-keys", {"name": "deploy script", "scope": "read"})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    match = KEY_IN_PAGE.search(html)
    assert match, html
    key = match.group(1)
    assert KEY_PATTERN.fullmatch(key)
    assert "shown only this once" in html

    listing = client.get("/dashboard/api-keys").get_data(as_text=True)
    assert key not in listing  # never shown again
    assert "deploy script" in listing
    assert f"lf_{key[3:11]}_…" in listing
    assert "read only" in listing
    assert "never" in listing

    api_response = client.get("/api/v1/links", headers={"Authorization": f"Bearer {key}"})
    assert api_response.status_code == 200
    listing = client.get("/dashboard/api-keys").get_data(as_text=True)
    assert "never" not in listing  # last used is shown now

    with app.app_context():
        row = find_active_key(key)
        assert row is not None
        key_id = row.id
    revoked = web.submit(
        client, f"/dashboard/api-keys/{key_id}/revoke", {}, form_path="/dashboard/api-keys"
    )
    assert revoked.status_code == 302
    after = client.get("/dashboard/api-keys").get_data(as_text=True)
    assert "Revoked the key" in after
    assert "revoked" in after
    again = client.get("/api/v1/links", headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 401


def test_key_form_errors_and_csrf(client: FlaskClient, carol: int, web: WebHelper) -> None:
    empty = web.submit(client, "/dashboard/api-keys", {"name": "", "scope": "write"})
    assert empty.status_code == 422
    assert not KEY_IN_PAGE.search(empty.get_data(as_text=True))
    no_token = client.post("/dashboard/api-keys", data={"name": "x", "scope": "write"})
    assert no_token.status_code in {400, 422}
    assert not KEY_IN_PAGE.search(no_token.get_data(as_text=True))
    assert client.post("/dashboard/api-keys/1/revoke").status_code == 400


def test_cannot_revoke_someone_elses_key(
    client: FlaskClient, carol: int, web: WebHelper, app: Flask
) -> None:
    from service.api.keys import create_api_key

    other = web.create_user("dave@example.com")
    with app.app_context():
        row, _ = create_api_key(other, "dave's", "write")
        key_id = row.id
    response = web.submit(
        client, f"/dashboard/api-keys/{key_id}/revoke", {}, form_path="/dashboard/api-keys"
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(type(row), key_id).revoked_at is None


def test_import_and_export_pages(client: FlaskClient, carol: int, web: WebHelper) -> None:
    page = client.get("/dashboard/import-export").get_data(as_text=True)
    assert "Download CSV" in page
    token = web.csrf_from(page)
    upload = io.BytesIO(b"slug,url,tags\nimp1,https://a.example/,x\nbad slug,https://b.example/,\n")
    response = client.post(
        "/dashboard/import-export",
        data={"csrf_token": token, "on_conflict": "skip", "file": (upload, "links.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Import report" in html
    assert re.search(r"<dt>Created</dt><dd>1</dd>", html)
    assert re.search(r"<dt>Failed</dt><dd>1</dd>", html)
    assert "bad slug" in html

    exported = client.get("/dashboard/import-export/export?format=csv")
    assert exported.status_code == 200
    assert exported.mimetype == "text/csv"
    assert "imp1,http://localhost/imp1,https://a.example/" in exported.get_data(as_text=True)
    as_json = client.get("/dashboard/import-export/export?format=json")
    assert [item["slug"] for item in as_json.get_json()] == ["imp1"]
    assert client.get("/dashboard/import-export/export?format=xml").status_code == 400


def test_import_page_checks_csrf_and_files(client: FlaskClient, carol: int, web: WebHelper) -> None:
    no_token = client.post(
        "/dashboard/import-export",
        data={"file": (io.BytesIO(b"url\nhttps://a.example/\n"), "links.csv")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 422
    assert "Import report" not in no_token.get_data(as_text=True)
    token = web.csrf(client, "/dashboard/import-export")
    wrong = client.post(
        "/dashboard/import-export",
        data={"csrf_token": token, "file": (io.BytesIO(b"<x/>"), "links.xml")},
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 415
    broken = client.post(
        "/dashboard/import-export",
        data={"csrf_token": token, "file": (io.BytesIO(b"title\nx\n"), "links.csv")},
        content_type="multipart/form-data",
    )
    assert broken.status_code == 400
    assert "No URL column" in broken.get_data(as_text=True)


def test_openapi_spec(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "LinkFleet API"
    paths = set(spec["paths"])
    assert {
        "/api/v1/links",
        "/api/v1/links/{slug}",
        "/api/v1/links/{slug}/qr.svg",
        "/api/v1/links/{slug}/qr.png",
        "/api/v1/links/{slug}/stats",
        "/api/v1/links/{slug}/visits.csv",
        "/api/v1/links/{slug}/dimensions.csv",
        "/api/v1/links/import",
        "/api/v1/links/export",
    } <= paths
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    create = spec["paths"]["/api/v1/links"]["post"]
    assert "application/problem+json" in str(create["responses"]["default"]) or create["responses"][
        "default"
    ] == {"$ref": "#/components/responses/DEFAULT_ERROR"}
    default_error = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert "application/problem+json" in default_error["content"]


def test_the_spec_is_built_on_first_read_once_whoever_reads_it(app: Flask) -> None:
    """Making the app documents nothing; eight threads reading at once all get one whole spec."""
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    assert api._built_spec is None
    with ThreadPoolExecutor(8) as pool:
        specs = list(pool.map(lambda _: api.spec, range(8)))
    assert all(spec is specs[0] for spec in specs)
    paths = specs[0].to_dict()["paths"]
    assert "/api/v1/links/{slug}" in paths
    assert "/api/v1/webhooks" in paths
    assert [tag["name"] for tag in specs[0].to_dict()["tags"]].count("links") == 1


def test_docs_page_uses_only_local_assets(client: FlaskClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>" not in html  # no inline script: the CSP forbids it
    assert "http://" not in html
    assert "https://" not in html
    assets = re.findall(r'<script src="([^"]+)"', html) + re.findall(
        r'<link [^>]*href="([^"]+)"', html
    )
    assert len(assets) == 5, assets
    assert all(asset.startswith("/") for asset in assets), assets
    for asset in assets:
        with client.get(asset) as served:
            assert served.status_code == 200, asset
    with client.get("/api/docs/assets/swagger-ui-bundle.js") as bundle:
        assert bundle.mimetype in {"text/javascript", "application/javascript"}
        assert "max-age=604800" in bundle.headers["Cache-Control"]
    assert client.get("/api/docs/assets/index.html").status_code == 404
    assert client.get("/api/docs/assets/..%2Fswagger-ui-bundle.js").status_code == 404
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
