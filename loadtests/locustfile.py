"""Locust users for LinkFleet.

``RedirectUser`` and ``BareUser`` are what the scaling benchmark measures (cached redirects,
and ``/healthz`` as the bare-endpoint baseline). ``MixedUser`` is the realistic mix for
``make loadtest``: about 95% redirects over a Zipf-distributed set of links, API reads, link
creation with an API key and a logged-in dashboard user.

Settings (environment):
  LINKFLEET_BENCH_SLUGS     file with one slug per line (written by the seeding step)
  LINKFLEET_BENCH_API_KEY   a read-write API key (API tasks are skipped without one)
  LINKFLEET_BENCH_EMAIL / LINKFLEET_BENCH_PASSWORD   a dashboard account
``seed.py --env-file F`` writes all four (``make loadtest`` does). One key shares one budget
(LINKFLEET_API_*_RATE_LIMIT): past it the API answers 429 with Retry-After, which MixedUser
counts as the limit working, not as a failure.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, tag, task

ZIPF_EXPONENT = 1.0
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _load_slugs() -> tuple[list[str], list[float]]:
    """Slugs with cumulative Zipf weights: rank k is visited in proportion to 1/k**s."""
    path = os.environ.get("LINKFLEET_BENCH_SLUGS", ".run/bench-slugs.txt")
    slugs = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not slugs:
        raise SystemExit(f"no slugs in {path}: seed links first (loadtests/seed.py)")
    weights = [1.0 / (rank**ZIPF_EXPONENT) for rank in range(1, len(slugs) + 1)]
    return slugs, list(itertools.accumulate(weights))


SLUGS, CUMULATIVE = _load_slugs()


def zipf_slug() -> str:
    return random.choices(SLUGS, cum_weights=CUMULATIVE)[0]


def _redirect(user: FastHttpUser) -> None:
    with user.client.get(
        f"/{zipf_slug()}", name="/<slug>", allow_redirects=False, catch_response=True
    ) as response:
        if response.status_code != 302:
            response.failure(f"expected 302, got {response.status_code}")


class RedirectUser(FastHttpUser):
    """Clicks short links as fast as it can (no think time: we look for saturation)."""

    wait_time = constant(0)

    @tag("redirect")
    @task
    def redirect(self) -> None:
        _redirect(self)


class BareUser(FastHttpUser):
    """The baseline: the cheapest endpoint of the same app on the same settings."""

    wait_time = constant(0)

    @tag("bare")
    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="/healthz")


class MixedUser(FastHttpUser):
    """What a busy LinkFleet sees: mostly clicks, some owners using the API and dashboard."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.api_headers = {
            "Authorization": f"Bearer {os.environ.get('LINKFLEET_BENCH_API_KEY', '')}"
        }
        self.logged_in = False
        email = os.environ.get("LINKFLEET_BENCH_EMAIL")
        password = os.environ.get("LINKFLEET_BENCH_PASSWORD")
        if email and password:
            page = self.client.get("/login", name="/login")
            token = _CSRF.search(page.text or "")
            if token:
                response = self.client.post(
                    "/login",
                    data={"email": email, "password": password, "csrf_token": token.group(1)},
                    allow_redirects=False,
                    name="/login",
                )
                self.logged_in = response.status_code in (302, 303)

    @tag("redirect")
    @task(95)
    def redirect(self) -> None:
        _redirect(self)

    def _api(self, method: str, path: str, name: str, expected: int, **kwargs: Any) -> None:
        """An API call; a 429 with Retry-After is the key's budget working, not a failure."""
        if not os.environ.get("LINKFLEET_BENCH_API_KEY"):
            return
        with self.client.request(
            method, path, headers=self.api_headers, name=name, catch_response=True, **kwargs
        ) as response:
            if response.status_code == 429 and response.headers.get("Retry-After"):
                response.success()
            elif response.status_code != expected:
                response.failure(f"expected {expected}, got {response.status_code}")

    @tag("api")
    @task(3)
    def api_list(self) -> None:
        self._api("GET", "/api/v1/links?per_page=20", "/api/v1/links", 200)

    @tag("api")
    @task(1)
    def api_create(self) -> None:
        url = f"https://example.org/load/{uuid.uuid4().hex}"
        self._api("POST", "/api/v1/links", "POST /api/v1/links", 201, json={"url": url})

    @tag("dashboard")
    @task(1)
    def dashboard(self) -> None:
        if self.logged_in:
            self.client.get("/dashboard", name="/dashboard")
