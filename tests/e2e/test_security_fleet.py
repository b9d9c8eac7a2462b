"""Security through the real stack (nginx -> gunicorn -> Flask): headers as a browser gets
them, HTTPS detection only from the trusted proxy, /metrics kept private, and rate limits
that two replicas spend together."""

from __future__ import annotations

import re

import pytest
import requests

from tests.fixtures.fleets import Fleet

pytestmark = pytest.mark.e2e


def _replicas(fleet: Fleet) -> list[str]:
    return [f"http://127.0.0.1:{port}" for port in fleet.spec.replicas.values()]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def test_security_headers_through_nginx(fleet: Fleet, fleet_api: requests.Session) -> None:
    created = fleet_api.post(f"{fleet.url}/api/v1/links", json={"url": "https://example.org/h"})
    slug = created.json()["slug"]
    responses = {
        "html": requests.get(f"{fleet.url}/login", timeout=5),
        "redirect": requests.get(f"{fleet.url}/{slug}", allow_redirects=False, timeout=5),
        "static": requests.get(f"{fleet.url}/static/linkfleet.css", timeout=5),
        "api": fleet_api.get(f"{fleet.url}/api/v1/links", timeout=5),
        "api error": requests.get(f"{fleet.url}/api/v1/links", timeout=5),
        "404": requests.get(f"{fleet.url}/no-such-link", timeout=5),
    }
    for kind, response in responses.items():
        policy = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy, kind
        assert "frame-ancestors 'none'" in policy, kind
        assert response.headers["X-Content-Type-Options"] == "nosniff", kind
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", kind
        assert "Strict-Transport-Security" not in response.headers, kind
        assert "Server" not in response.headers or "/" not in response.headers["Server"], kind


def test_https_is_believed_only_from_the_trusted_proxy(fleet: Fleet) -> None:
    """nginx overwrites a client's X-Forwarded-Proto, so a plain-HTTP client cannot make
    the app send HSTS or a Secure cookie; nginx terminating TLS (scheme https) can."""
    spoofed = requests.get(f"{fleet.url}/login", headers={"X-Forwarded-Proto": "https"}, timeout=5)
    assert "Strict-Transport-Security" not in spoofed.headers
    assert "secure" not in spoofed.headers["Set-Cookie"].lower()
    # What the app receives from a TLS-terminating nginx on loopback (a trusted proxy):
    over_tls = requests.get(
        f"{_replicas(fleet)[0]}/login", headers={"X-Forwarded-Proto": "https"}, timeout=5
    )
    assert over_tls.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = over_tls.headers["Set-Cookie"].lower()
    assert "; secure" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_metrics_stay_private(fleet: Fleet) -> None:
    replica = _replicas(fleet)[0]
    # A public client that claimed a private address: nginx appends the real one last.
    forwarded = requests.get(
        f"{replica}/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}, timeout=5
    )
    assert forwarded.status_code == 404
    assert "linkfleet_" not in forwarded.text
    # Through nginx a spoofed header changes nothing: the client's real address decides.
    through = requests.get(
        f"{fleet.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=5
    )
    assert through.status_code == 200  # this test's client really is on loopback
    assert requests.get(f"{fleet.url}/metrics/", timeout=5).status_code == 404


def test_login_attempts_spend_one_budget_over_both_replicas(fleet: Fleet) -> None:
    """The same client address on replica-1 and replica-2 alternately: the eleventh failed
    login in a minute is refused, whichever replica gets it."""
    address = "203.0.113.77"  # the client nginx would name in X-Forwarded-For
    statuses = []
    for number in range(11):
        base = _replicas(fleet)[number % 2]
        with requests.Session() as browser:
            browser.headers["X-Forwarded-For"] = address
            token = _csrf(browser.get(f"{base}/login", timeout=5).text)
            response = browser.post(
                f"{base}/login",
                data={"email": "nobody@example.com", "password": "wrong!", "csrf_token": token},
                timeout=10,
            )
            statuses.append((response.status_code, response.headers["X-Served-By"]))
    assert [status for status, _ in statuses] == [422] * 10 + [429]
    assert {replica for _, replica in statuses} == {"replica-1", "replica-2"}
