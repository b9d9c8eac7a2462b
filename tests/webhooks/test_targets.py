"""SSRF: webhook targets on loopback, private, link-local, multicast or reserved addresses are
refused at creation and again at delivery; http:// only with the allow-private setting."""

from __future__ import annotations

import socket

import pytest
from flask import Flask

from service.links.errors import ValidationError
from service.webhooks.sender import post
from service.webhooks.targets import Target, check_url, is_public_address
from tests.api.conftest import assert_problem
from tests.fixtures.accounts import ApiClient
from tests.webhooks.conftest import Receiver, deliveries, dispatch_until

REFUSED = [
    "https://127.0.0.1/hook",
    "https://127.9.9.9:8443/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://localhost/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_url(url, allow_private=False)
    assert "public addresses" in refused.value.errors["url"]


@pytest.mark.parametrize(
    "url",
    ["http://93.184.215.14/hook", "ftp://93.184.215.14/hook", "https://user:pw@93.184.215.14/"],
)
def test_only_plain_https_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        check_url(url, allow_private=False)


def test_public_https_targets_and_the_test_setting_pass() -> None:
    assert check_url("https://93.184.215.14/hook?x=1", allow_private=False).startswith("https://")
    assert check_url("http://127.0.0.1:8000/hook", allow_private=True) == (
        "http://127.0.0.1:8000/hook"
    )
    assert is_public_address("2606:4700::1111")
    assert not is_public_address("::")


def test_unresolvable_hosts_are_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        check_url("https://no-such-host.invalid/hook", allow_private=False)
    assert "could not be resolved" in refused.value.errors["url"]


def test_the_api_refuses_private_targets_with_the_setting_off(app: Flask, api: ApiClient) -> None:
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    for url in ("https://localhost/hook", "https://169.254.169.254/", "http://127.0.0.1/"):
        response = api.post("/api/v1/webhooks", json={"url": url, "events": ["link.created"]})
        body = assert_problem(response, 422)
        assert body["errors"]["url"], body


def test_a_target_that_became_private_is_refused_at_delivery(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: object
) -> None:
    """As after DNS rebinding: accepted when created (here: with the setting on), then
    resolving to loopback when sent (the setting off): refused, nothing reaches it."""
    url = receiver.url.replace("http://127.0.0.1", "https://localhost")
    created = api.post("/api/v1/webhooks", json={"url": url, "events": ["link.created"]})
    assert created.status_code == 201, created.get_json()
    api.create(slug="rebound")
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    dispatch_until(dispatcher, lambda: deliveries(app)[0].attempts >= 1)  # type: ignore[arg-type]
    attempt = deliveries(app)[0]
    assert attempt.status == "pending"
    assert attempt.response_code is None
    assert attempt.error.startswith("refused: localhost resolves to"), attempt.error
    assert "public addresses" in attempt.error
    assert receiver.received == []


def test_the_attempt_connects_to_the_checked_address(receiver: Receiver) -> None:
    """The name is not resolved again when connecting: a host that resolves nowhere (as a
    rebound name might resolve elsewhere) still reaches the address that was checked."""
    port = int(receiver.url.rsplit(":", 1)[1].strip("/"))
    target = Target("http", "rebound.invalid", port, "127.0.0.1", "/checked")
    outcome = post(target, secret="whsec_s", event="ping", event_id="evt_1", body=b"{}", timeout=2)
    assert outcome.ok, outcome
    (request,) = receiver.received
    assert request.path == "/checked"
    assert request.headers["Host"] == f"rebound.invalid:{port}"


def test_a_changed_url_is_checked_too(app: Flask, api: ApiClient) -> None:
    created = api.post(
        "/api/v1/webhooks", json={"url": "https://93.184.215.14/", "events": ["link.created"]}
    )
    assert created.status_code == 201
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    path = f"/api/v1/webhooks/{created.get_json()['id']}"
    body = assert_problem(api.patch(path, json={"url": "https://10.0.0.5/"}), 422)
    assert "public addresses" in body["errors"]["url"][0]
    assert api.get(path).get_json()["url"] == "https://93.184.215.14/"


def test_a_refused_connection_is_a_failed_attempt(
    app: Flask, api: ApiClient, dispatcher: object
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    hook = api.post(
        "/api/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/", "events": ["link.created"]}
    )
    assert hook.status_code == 201
    api.create(slug="nobody-home")
    dispatch_until(dispatcher, lambda: deliveries(app)[0].attempts >= 1)  # type: ignore[arg-type]
    (attempt,) = deliveries(app)
    assert attempt.status == "pending"
    assert attempt.error.startswith("ConnectionRefusedError"), attempt.error
