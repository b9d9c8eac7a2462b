"""Deliveries: each event once, signed as docs/WEBHOOKS.md says; retries with backoff, then
failed; endpoints disabled after failures in a row; no redirects; short timeouts; batched
clicks from the worker; the log's retention. Real receiver, Redis, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import ssl
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select, update

from service.analytics.extension import DEFAULT_STREAM
from service.extensions import db
from service.extensions.types import utcnow
from service.links.models import Link
from service.webhooks.dispatcher import Dispatcher, backoff_seconds
from service.webhooks.models import WebhookDelivery
from service.webhooks.signing import SIGNATURE_HEADER, signature
from tests.analytics.conftest import event, make_worker, xadd_events
from tests.fixtures.accounts import ApiClient
from tests.fixtures.links import make_link
from tests.fixtures.services import self_signed_certificate
from tests.webhooks.conftest import (
    Receiver,
    deliveries,
    dispatch_until,
    docs_verify,
    endpoint_row,
    serving,
)

pytestmark = pytest.mark.integration

ALL_EVENTS = ["link.created", "link.updated", "link.deleted", "link.clicked"]


def subscribe(
    api: ApiClient, receiver: Receiver, events: list[str] | None = None
) -> dict[str, Any]:
    response = api.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": events or ALL_EVENTS}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_each_link_event_arrives_once_signed(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    hook = subscribe(api, receiver)
    api.create(slug="hooked", url="https://example.com/a")
    assert api.patch("/api/v1/links/hooked", json={"slug": "hooked2"}).status_code == 200
    assert api.delete("/api/v1/links/hooked2").status_code == 204
    assert receiver.received == []  # requests only enqueue
    dispatch_until(dispatcher, lambda: len(receiver.received) == 3)
    dispatcher.run_once()
    assert receiver.events() == ["link.created", "link.updated", "link.deleted"]
    created, updated, deleted = (item.json for item in receiver.received)
    assert created["data"]["link"]["slug"] == "hooked"
    assert created["data"]["link"]["url"] == "https://example.com/a"
    assert updated["data"] == {**updated["data"], "previous_slug": "hooked"}
    assert updated["data"]["link"]["slug"] == "hooked2"
    assert deleted["data"] == {"slug": "hooked2"}
    verify = docs_verify()
    for item in receiver.received:
        header = item.headers[SIGNATURE_HEADER]
        assert verify(hook["secret"], header, item.body)
        assert not verify(hook["secret"], header, item.body + b" ")  # tampered body
        assert not verify("whsec_other", header, item.body)
        assert item.headers["X-LinkFleet-Event"] == item.json["type"]
        assert item.headers["X-LinkFleet-Delivery"] == item.json["id"]
    assert [d.status for d in deliveries(app)] == ["delivered"] * 3
    assert all(d.response_code == 200 and d.duration_ms is not None for d in deliveries(app))


def test_a_replayed_signature_is_refused_outside_the_tolerance() -> None:
    verify = docs_verify()
    body = b'{"type": "ping"}'
    old = int(time.time()) - 301
    assert not verify("whsec_s", signature("whsec_s", old, body), body)
    assert verify("whsec_s", signature("whsec_s", old + 2, body), body)
    assert not verify("whsec_s", "garbage", body)


def test_only_subscribed_events_and_own_links(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher, bob: Any
) -> None:
    subscribe(api, receiver, ["link.deleted"])
    api.create(slug="quiet")
    make_link(app, "bobs", owner=bob.email)  # someone else's link
    assert api.delete("/api/v1/links/quiet").status_code == 204
    dispatch_until(dispatcher, lambda: len(receiver.received) == 1)
    dispatcher.run_once()
    assert receiver.events() == ["link.deleted"]


def test_imported_links_are_announced(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    subscribe(api, receiver, ["link.created"])
    csv = "slug,url\nimp1,https://example.com/1\nimp2,https://example.com/2\n"
    response = api.post("/api/v1/links/import", data=csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.get_json()
    dispatch_until(dispatcher, lambda: len(receiver.received) == 2)
    assert sorted(item.json["data"]["link"]["slug"] for item in receiver.received) == [
        "imp1",
        "imp2",
    ]


def test_failures_are_retried_with_backoff_until_delivered(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    hook = subscribe(api, receiver, ["link.created"])
    receiver.answers.extend([500, 503])
    api.create(slug="retried")
    dispatch_until(dispatcher, lambda: deliveries(app)[0].status == "delivered")
    (delivery,) = deliveries(app)
    assert delivery.attempts == 3
    assert delivery.response_code == 200
    assert len({item.json["id"] for item in receiver.received}) == 1  # one event, three tries
    first, second, third = (item.at for item in receiver.received)
    base = app.config["WEBHOOKS_BACKOFF_BASE"]
    assert second - first >= base / 2
    assert third - second >= base  # 2 x base with jitter down to half
    assert endpoint_row(app, hook["id"]).consecutive_failures == 0  # a success resets the count


def test_backoff_is_exponential_capped_and_jittered() -> None:
    config = {"WEBHOOKS_BACKOFF_BASE": 10.0, "WEBHOOKS_BACKOFF_MAX": 3600.0}
    for attempts, ceiling in ((1, 10), (2, 20), (3, 40), (10, 3600), (30, 3600)):
        waits = {backoff_seconds(config, attempts) for _ in range(50)}
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert len(waits) > 1  # jitter


def test_a_delivery_fails_after_the_last_attempt(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    app.config["WEBHOOKS_MAX_ATTEMPTS"] = 2
    subscribe(api, receiver, ["link.created"])
    receiver.answers.extend([500] * 5)
    api.create(slug="doomed")
    dispatch_until(dispatcher, lambda: deliveries(app)[0].status == "failed")
    (delivery,) = deliveries(app)
    assert delivery.attempts == 2
    assert delivery.response_code == 500
    assert delivery.error == "HTTP 500: not a 2xx answer"
    assert len(receiver.received) == 2


def test_endpoints_are_disabled_after_failures_in_a_row_and_resume_when_enabled(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    app.config["WEBHOOKS_DISABLE_AFTER"] = 3
    hook = subscribe(api, receiver, ["link.created"])
    receiver.answers.extend([500] * 3)
    api.create(slug="d1")
    dispatch_until(dispatcher, lambda: not endpoint_row(app, hook["id"]).enabled)
    endpoint = endpoint_row(app, hook["id"])
    assert endpoint.consecutive_failures == 3
    assert endpoint.disabled_reason.startswith("Disabled after 3 failed attempts in a row")
    api.create(slug="d2")  # a disabled endpoint gets no new deliveries
    for _ in range(5):
        dispatcher.run_once()
        time.sleep(0.05)
    assert len(receiver.received) == 3
    shown = api.get(f"/api/v1/webhooks/{hook['id']}").get_json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"]
    enabled = api.patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": True}).get_json()
    assert enabled["enabled"] is True
    assert enabled["consecutive_failures"] == 0
    dispatch_until(dispatcher, lambda: deliveries(app)[0].status == "delivered")
    assert [d.status for d in deliveries(app)] == ["delivered"]  # d2 was never enqueued


def test_redirects_are_not_followed(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    subscribe(api, receiver, ["link.created"])
    receiver.answers.extend([302] + [500] * 10)
    api.create(slug="moved")
    dispatch_until(dispatcher, lambda: deliveries(app)[0].attempts >= 1)
    (delivery,) = deliveries(app)
    assert delivery.response_code == 302
    assert "redirects are not followed" in delivery.error
    assert [item.path for item in receiver.received] == ["/"]  # Location never requested


def test_slow_receivers_time_out(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    app.config["WEBHOOKS_TIMEOUT"] = 0.2
    receiver.delay = 0.6
    subscribe(api, receiver, ["link.created"])
    api.create(slug="slow")
    dispatch_until(dispatcher, lambda: deliveries(app)[0].attempts >= 1)
    (delivery,) = deliveries(app)
    assert delivery.status == "pending"
    assert "timed out" in delivery.error.lower(), delivery.error
    assert delivery.duration_ms is not None  # recorded; no clock asserted on a shared machine


def test_clicks_are_announced_in_batches_per_link(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    subscribe(api, receiver, ["link.clicked"])
    first, second = api.create(slug="c1"), api.create(slug="c2")
    with app.app_context():
        ids = {
            slug: db.session.scalar(select(Link.id).where(Link.slug == slug))
            for slug in (first["slug"], second["slug"])
        }
    events = [event("c1", link=ids["c1"], ts=time.time()) for _ in range(3)] + [
        event("c2", link=ids["c2"], ts=time.time()) for _ in range(2)
    ]
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    xadd_events(client, events, DEFAULT_STREAM)
    xadd_events(client, events, DEFAULT_STREAM)  # a replay: counted once, announced once
    worker = make_worker(app)
    worker.clicks = dispatcher.clicks
    try:
        worker.drain()
    finally:
        worker.client.close()
        client.close()
    dispatch_until(dispatcher, lambda: len(receiver.received) == 1)
    dispatcher.run_once()
    (clicked,) = (item.json for item in receiver.received)
    assert clicked["type"] == "link.clicked"
    assert sorted((row["slug"], row["clicks"]) for row in clicked["data"]["links"]) == [
        ("c1", 3),
        ("c2", 2),
    ]
    assert {"window_start", "window_end"} <= set(clicked["data"])
    body = receiver.received[0].body.decode()
    for visitor_field in ('"ip"', "127.0.0.1", events[0]["ip"]):
        assert visitor_field not in body


def test_a_ping_is_delivered_whatever_was_subscribed(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    hook = subscribe(api, receiver, ["link.deleted"])
    assert api.post(f"/api/v1/webhooks/{hook['id']}/ping").status_code == 202
    dispatch_until(dispatcher, lambda: len(receiver.received) == 1)
    assert receiver.received[0].json["type"] == "ping"
    assert receiver.received[0].json["data"] == {"endpoint_id": hook["id"]}


def test_finished_deliveries_are_forgotten_after_the_retention(
    app: Flask, api: ApiClient, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    subscribe(api, receiver, ["link.created"])
    api.create(slug="old")
    dispatch_until(dispatcher, lambda: deliveries(app)[0].status == "delivered")
    receiver.answers.extend([500] * 10)
    api.create(slug="pending")
    days = app.config["WEBHOOKS_LOG_RETENTION_DAYS"]
    with app.app_context():
        db.session.execute(
            update(WebhookDelivery).values(created_at=utcnow() - timedelta(days=days, hours=1))
        )
        db.session.commit()
    assert dispatcher.purge() == 1
    assert [json.loads(d.payload)["data"]["link"]["slug"] for d in deliveries(app)] == ["pending"]


def test_https_receivers_get_verified_tls_on_the_checked_address(
    app: Flask,
    api: ApiClient,
    dispatcher: Dispatcher,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """https://localhost:<port>/ is reached on the address checked for ``localhost``, and its
    certificate is verified against the name ``localhost``: a certificate for another name
    fails the attempt."""
    good, good_key = self_signed_certificate(tmp_path, "localhost", "DNS:localhost")
    other, other_key = self_signed_certificate(tmp_path, "other", "DNS:other.example")
    trusted = tmp_path / "trusted.pem"  # both trusted: only the name can fail
    trusted.write_bytes(good.read_bytes() + other.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    for cert, key, delivered in ((good, good_key, True), (other, other_key, False)):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        with serving(context) as receiver:
            url = receiver.url.replace("127.0.0.1", "localhost")
            hook = api.post("/api/v1/webhooks", json={"url": url, "events": ["link.created"]})
            assert hook.status_code == 201, hook.get_json()
            api.create(slug=f"tls-{delivered}".lower())
            dispatch_until(dispatcher, lambda: deliveries(app)[-1].attempts >= 1)
            last = deliveries(app)[-1]
            if delivered:
                assert last.status == "delivered", last.error
                assert receiver.events() == ["link.created"]
            else:
                assert "Hostname mismatch" in last.error, last.error
                assert receiver.received == []
        assert api.delete(f"/api/v1/webhooks/{hook.get_json()['id']}").status_code == 204
