"""The dashboard's Webhooks page: in the navigation, CSRF-protected forms, friendly errors,
the secret shown once, enable/disable, ping, delete, and the delivery log."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from service.extensions import db
from service.webhooks.dispatcher import Dispatcher
from service.webhooks.models import WebhookEndpoint
from tests.fixtures.users import WebHelper
from tests.webhooks.conftest import Receiver, dispatch_until

PAGE = "/dashboard/webhooks"


def logged_in(app: Flask, web: WebHelper, email: str = "hooks@example.com") -> FlaskClient:
    client = app.test_client()
    web.create_user(email)
    web.log_in(client, email)
    return client


def create(web: WebHelper, client: FlaskClient, url: str, events: list[str]) -> Any:
    return web.submit(client, PAGE, {"url": url, "events": events})


def test_the_page_is_in_the_navigation(app: Flask, web: WebHelper) -> None:
    client = logged_in(app, web)
    assert f'href="{PAGE}"' in client.get("/dashboard/").get_data(as_text=True)
    page = client.get(PAGE).get_data(as_text=True)
    for name in ("link.created", "link.updated", "link.deleted", "link.clicked"):
        assert f'type="checkbox" value="{name}"' in page


def test_create_shows_the_secret_once_and_lists_the_webhook(
    app: Flask, web: WebHelper, receiver: Receiver
) -> None:
    client = logged_in(app, web)
    response = create(web, client, receiver.url, ["link.created", "link.deleted"])
    html = response.get_data(as_text=True)
    assert response.status_code == 201, html
    assert response.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(whsec_[^"]+)"', html)
    assert secret
    assert receiver.url in html
    again = client.get(PAGE).get_data(as_text=True)
    assert secret.group(1) not in again
    assert receiver.url in again


def test_friendly_errors(app: Flask, web: WebHelper) -> None:
    client = logged_in(app, web)
    response = create(web, client, "https://example.com/hook", [])
    assert response.status_code == 422
    assert "Choose at least one event." in response.get_data(as_text=True)
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    response = create(web, client, "https://169.254.169.254/latest", ["link.created"])
    assert response.status_code == 422
    assert "webhooks are only sent to public addresses" in response.get_data(as_text=True)
    response = create(web, client, "http://93.184.215.14/hook", ["link.created"])
    assert "must start with https://" in response.get_data(as_text=True)


def test_forms_need_the_csrf_token(app: Flask, web: WebHelper, receiver: Receiver) -> None:
    client = logged_in(app, web)
    response = client.post(PAGE, data={"url": receiver.url, "events": ["link.created"]})
    assert response.status_code == 400
    assert create(web, client, receiver.url, ["link.created"]).status_code == 201
    assert client.post(f"{PAGE}/1/delete").status_code == 400
    assert client.post(f"{PAGE}/1/ping").status_code == 400


def test_disable_enable_ping_log_and_delete(
    app: Flask, web: WebHelper, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    client = logged_in(app, web)
    created = create(web, client, receiver.url, ["link.created"])
    assert created.status_code == 201
    found = re.search(rf'action="({PAGE}/\d+)/disable"', created.get_data(as_text=True))
    assert found
    hook = found.group(1)
    response = web.submit(client, f"{hook}/disable", {}, form_path=PAGE, follow_redirects=True)
    assert "Webhook disabled" in response.get_data(as_text=True)
    assert f'action="{hook}/enable"' in response.get_data(as_text=True)
    with app.app_context():  # as the dispatcher leaves it after failures in a row
        endpoint = db.session.get(WebhookEndpoint, int(hook.rsplit("/", 1)[1]))
        endpoint.disabled_reason = "Disabled after 20 failed attempts in a row (last: HTTP 500)"
        db.session.commit()
    assert "Disabled after 20 failed attempts" in client.get(PAGE).get_data(as_text=True)
    response = web.submit(client, f"{hook}/enable", {}, form_path=PAGE, follow_redirects=True)
    assert f'action="{hook}/disable"' in response.get_data(as_text=True)
    response = web.submit(client, f"{hook}/ping", {}, form_path=PAGE, follow_redirects=True)
    assert "Test ping queued" in response.get_data(as_text=True)
    dispatch_until(dispatcher, lambda: len(receiver.received) == 1)
    log = client.get(hook).get_data(as_text=True)
    assert "<code>ping</code>" in log
    assert "delivered" in log
    assert ">200<" in log
    assert " ms<" in log
    other = logged_in(app, web, "other@example.com")
    assert other.get(hook).status_code == 404
    response = web.submit(client, f"{hook}/delete", {}, form_path=PAGE, follow_redirects=True)
    assert "Webhook deleted" in response.get_data(as_text=True)
    assert client.get(hook).status_code == 404
