"""``/api/v1/webhooks``: CRUD with key auth and scopes, problem+json errors, the secret shown
once, someone else's webhooks a 404, and the OpenAPI spec documenting it all."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.config import ConfigError, Settings
from tests.api.conftest import assert_problem
from tests.fixtures.accounts import Account, ApiClient

HOOK = {"url": "https://93.184.215.14/hooks", "events": ["link.created", "link.clicked"]}


def make_hook(api: ApiClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/api/v1/webhooks", json={**HOOK, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_create_list_read_change_delete(api: ApiClient) -> None:
    response = api.post("/api/v1/webhooks", json=HOOK)
    assert response.status_code == 201
    created = response.get_json()
    assert created["secret"].startswith("whsec_")
    assert response.headers["Location"].endswith(f"/api/v1/webhooks/{created['id']}")
    assert created["events"] == ["link.created", "link.clicked"]
    listed = api.get("/api/v1/webhooks").get_json()
    assert [hook["id"] for hook in listed] == [created["id"]]
    assert "secret" not in listed[0]  # shown once
    read = api.get(f"/api/v1/webhooks/{created['id']}").get_json()
    assert "secret" not in read
    assert read["enabled"] is True
    changed = api.patch(
        f"/api/v1/webhooks/{created['id']}", json={"events": ["link.deleted"], "enabled": False}
    ).get_json()
    assert changed["events"] == ["link.deleted"]
    assert changed["enabled"] is False
    assert api.get(f"/api/v1/webhooks/{created['id']}/deliveries").get_json() == []
    assert api.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert_problem(api.get(f"/api/v1/webhooks/{created['id']}"), 404)


def test_invalid_fields_are_problems(api: ApiClient) -> None:
    body = assert_problem(
        api.post("/api/v1/webhooks", json={"url": HOOK["url"], "events": ["link.visited"]}), 422
    )
    assert "events.0" in body["errors"]
    body = assert_problem(api.post("/api/v1/webhooks", json={"url": HOOK["url"]}), 422)
    assert "events" in body["errors"]
    body = assert_problem(api.post("/api/v1/webhooks", json={**HOOK, "colour": "red"}), 422)
    assert "colour" in body["errors"]
    body = assert_problem(api.post("/api/v1/webhooks", json={**HOOK, "url": "javascript:x"}), 422)
    assert "url" in body["errors"]
    assert_problem(api.post("/api/v1/webhooks", data="x", content_type="text/plain"), 415)


def test_scopes_and_owners(api: ApiClient, alice: Account, bob: Account) -> None:
    hook = make_hook(api)
    read_only = api.post("/api/v1/webhooks", json=HOOK, key=alice.read_key)
    assert_problem(read_only, 403)
    assert api.get("/api/v1/webhooks", key=alice.read_key).status_code == 200
    assert_problem(api.get("/api/v1/webhooks", key="lf_nope_nope"), 401)
    for method, path in (
        ("GET", f"/api/v1/webhooks/{hook['id']}"),
        ("PATCH", f"/api/v1/webhooks/{hook['id']}"),
        ("DELETE", f"/api/v1/webhooks/{hook['id']}"),
        ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries"),
        ("POST", f"/api/v1/webhooks/{hook['id']}/ping"),
    ):
        kwargs = {"json": {"enabled": False}} if method == "PATCH" else {}
        assert_problem(api.request(method, path, key=bob.key, **kwargs), 404)
    assert api.get("/api/v1/webhooks", key=bob.key).get_json() == []


def test_an_account_has_a_bounded_number_of_webhooks(app: Flask, api: ApiClient) -> None:
    limit = app.config["WEBHOOKS_MAX_ENDPOINTS"]
    for _ in range(limit):
        make_hook(api)
    body = assert_problem(api.post("/api/v1/webhooks", json=HOOK), 422)
    assert f"at most {limit}" in body["errors"]["url"][0]


def test_the_openapi_spec_documents_webhooks(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/webhooks"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/webhooks/{endpoint_id}"])
    assert "post" in paths["/api/v1/webhooks/{endpoint_id}/ping"]
    assert "get" in paths["/api/v1/webhooks/{endpoint_id}/deliveries"]
    created = spec["components"]["schemas"]["WebhookCreated"]
    assert "secret" in created["properties"]
    assert "secret" not in spec["components"]["schemas"]["Webhook"]["properties"]


def test_webhook_settings_come_from_the_environment() -> None:
    defaults = Settings.from_env({}).to_flask()
    assert {key: defaults[key] for key in defaults if key.startswith("WEBHOOKS_")} == {
        "WEBHOOKS_ALLOW_PRIVATE": False,
        "WEBHOOKS_MAX_ATTEMPTS": 8,
        "WEBHOOKS_DISABLE_AFTER": 20,
        "WEBHOOKS_BACKOFF_BASE": 10.0,
        "WEBHOOKS_BACKOFF_MAX": 3600.0,
        "WEBHOOKS_TIMEOUT": 5.0,
        "WEBHOOKS_CLICK_WINDOW": 60,
        "WEBHOOKS_LOG_RETENTION_DAYS": 7,
        "WEBHOOKS_POLL_INTERVAL": 1.0,
        "WEBHOOKS_MAX_ENDPOINTS": 10,
    }
    env = {
        "LINKFLEET_WEBHOOKS_ALLOW_PRIVATE": "true",
        "LINKFLEET_WEBHOOKS_BACKOFF_BASE_MS": "50",
        "LINKFLEET_WEBHOOKS_DISABLE_AFTER": "3",
    }
    config = Settings.from_env(env).to_flask()
    assert config["WEBHOOKS_ALLOW_PRIVATE"] is True
    assert config["WEBHOOKS_BACKOFF_BASE"] == 0.05
    assert config["WEBHOOKS_DISABLE_AFTER"] == 3
    with pytest.raises(ConfigError, match="LINKFLEET_WEBHOOKS_MAX_ATTEMPTS must be at least 1"):
        Settings.from_env({"LINKFLEET_WEBHOOKS_MAX_ATTEMPTS": "0"})
