"""Where a webhook may be sent: public addresses only, checked at creation and per delivery.

A name is resolved, *every* address it resolves to must be public, and the delivery then
connects to the address that was checked (:func:`resolve_public`), so a name that resolves to
a public address when checked and to ``127.0.0.1`` a moment later (DNS rebinding) cannot
reach the inside. ``WEBHOOKS_ALLOW_PRIVATE`` (tests, labs) lifts the address check and
allows ``http://``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..links.errors import ValidationError
from ..links.validation import validate_target_url


class TargetRefused(Exception):
    """The target may not be called; the message says why, for people."""


@dataclass(frozen=True)
class Target:
    """A checked target: what to connect to (``address``) and what to ask for."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


def is_public_address(address: str) -> bool:
    """True for globally routable unicast addresses: not loopback, private, link-local,
    shared (CGNAT), multicast, reserved, unspecified or documentation ranges."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> str:
    """The canonical form of an endpoint URL, or :class:`ValidationError` ``{"url": ...}``:
    https only (http too with ``allow_private``), resolvable, public addresses only."""
    canonical = validate_target_url(url)
    try:
        resolve_public(canonical, allow_private=allow_private)
    except TargetRefused as refused:
        raise ValidationError({"url": str(refused)}) from None
    return canonical


def resolve_public(
    url: str,
    *,
    allow_private: bool,
    noun: str = "Webhook",
    refusal: str = "webhooks are only sent to public addresses",
) -> Target:
    """Resolve ``url``'s host and check every address; the first one is the one to use.

    ``noun`` and ``refusal`` word the messages for the caller (webhooks, migrations)."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme != "https" and not (scheme == "http" and allow_private):
        raise TargetRefused(f"{noun} URLs must start with https://.")
    host = (parts.hostname or "").strip("[]")
    port = parts.port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetRefused(f"The host name {host!r} could not be resolved.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"The host name {host!r} could not be resolved.")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise TargetRefused(
                    f"{host} resolves to {address}, a loopback, private or reserved address: "
                    f"{refusal}."
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, host, port, addresses[0], path)


__all__ = [
    "Target",
    "TargetRefused",
    "ValidationError",
    "check_url",
    "is_public_address",
    "resolve_public",
]
