"""One HTTP attempt: POST the signed body to the checked address, no redirects, short timeouts.

http.client follows no redirects; the connection goes to the address
:func:`.targets.resolve_public` checked (TLS still verifies the certificate against the
host name), so a second DNS answer is never used.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from .signing import SIGNATURE_HEADER, signature
from .targets import Target, TargetRefused, resolve_public

USER_AGENT = "LinkFleet-Webhooks/1"
#: At most this much of a response is read (the body is not used beyond its status).
_MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    """How an attempt went: ``ok`` for a 2xx answer."""

    ok: bool
    status: int | None
    duration_ms: int
    error: str = ""


def _millis_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def pinned_connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to the checked address only (TLS still verifies ``target.host``); also
    the migration client's (:mod:`service.migrate.fetch`)."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def pinned(address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
        return socket.create_connection((target.address, target.port), timeout, source_address)

    connection._create_connection = pinned  # type: ignore[attr-defined]
    return connection


def send(
    url: str,
    *,
    secret: str,
    event: str,
    event_id: str,
    body: bytes,
    timeout: float,
    allow_private: bool,
) -> Outcome:
    """Resolve and check ``url`` again, then POST ``body`` signed now."""
    started = time.perf_counter()
    try:
        target = resolve_public(url, allow_private=allow_private)
    except TargetRefused as refused:
        return Outcome(False, None, _millis_since(started), f"refused: {refused}")
    return post(target, secret=secret, event=event, event_id=event_id, body=body, timeout=timeout)


def post(
    target: Target, *, secret: str, event: str, event_id: str, body: bytes, timeout: float
) -> Outcome:
    """POST to ``target.address`` (never a new DNS answer), for ``target.host``."""
    started = time.perf_counter()

    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-LinkFleet-Event": event,
        "X-LinkFleet-Delivery": event_id,
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
    }
    connection = pinned_connection(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        return Outcome(
            False, None, _millis_since(started), f"{type(error).__name__}: {error}"[:300]
        )
    finally:
        connection.close()
    if 200 <= status < 300:
        return Outcome(True, status, _millis_since(started))
    reason = "redirects are not followed" if 300 <= status < 400 else "not a 2xx answer"
    return Outcome(False, status, _millis_since(started), f"HTTP {status}: {reason}")
