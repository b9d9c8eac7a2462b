"""HTTP to a peer shortener on a user's behalf: the webhooks' SSRF check, then one request.

The peer URL is checked like a webhook target (:func:`~service.webhooks.targets.resolve_public`:
https only, every address public, the connection pinned to the checked address) unless
``WEBHOOKS_ALLOW_PRIVATE`` is on (tests, labs). Redirects are not followed (a redirect could
lead inside); an answer is read up to :data:`MAX_RESPONSE_BYTES` and must be JSON.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..webhooks.sender import pinned_connection
from ..webhooks.targets import Target, TargetRefused, resolve_public

USER_AGENT = "LinkFleet-Migrate/1"
#: A page of links larger than this is refused (a peer page is a few hundred KiB at most).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0


class PeerError(Exception):
    """The peer could not be asked or gave no usable answer; the message says why."""


def check_peer_url(url: str, *, allow_private: bool) -> Target:
    """The checked target of ``url``, or :class:`PeerError` (scheme, public addresses)."""
    try:
        return resolve_public(
            url,
            allow_private=allow_private,
            noun="Peer",
            refusal="a migration only fetches from public addresses",
        )
    except TargetRefused as refused:
        raise PeerError(str(refused)) from None
    except ValueError:  # urlsplit's port out of range, a malformed IPv6 literal
        raise PeerError(f"{url!r} is not a valid URL.") from None


def join(base: str, path: str, query: dict[str, Any] | None = None) -> str:
    """``base`` (the peer's root, maybe under a path) with ``path`` and ``query`` added."""
    parts = urlsplit(base)
    full = parts.path.rstrip("/") + path
    return urlunsplit((parts.scheme, parts.netloc, full, urlencode(query or {}), ""))


def request_json(
    method: str,
    url: str,
    *,
    allow_private: bool,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """The decoded JSON answer of one request, or :class:`PeerError` (refused target,
    network error, non-2xx status, redirect, oversized or non-JSON body)."""
    target = check_peer_url(url, allow_private=allow_private)
    sent = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    body = None
    if form is not None:
        body = urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    connection = pinned_connection(target, timeout)
    try:
        connection.request(method, target.path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE_BYTES + 1)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        raise PeerError(f"network error: {type(error).__name__}: {error}"[:300]) from None
    finally:
        connection.close()
    if 300 <= status < 400:
        raise PeerError(f"HTTP {status}: redirects are not followed; give the final URL.")
    if status in (401, 403):
        raise PeerError(f"HTTP {status}: the peer refused the credentials.")
    if not 200 <= status < 300:
        raise PeerError(f"HTTP {status} from the peer.")
    if len(data) > MAX_RESPONSE_BYTES:
        raise PeerError("the peer's answer is larger than 32 MiB.")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise PeerError("the peer's answer is not JSON.") from None


__all__ = ["PeerError", "check_peer_url", "join", "request_json"]
