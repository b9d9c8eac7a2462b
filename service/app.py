"""The Flask subclass and its request/response classes.

Override points are class attributes, each documented with ``#:``, as Flask itself does:
the replica-aware behaviour lives in the classes, not in scattered hooks.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from flask import Flask, Request, Response, current_app, request

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.datastructures import Headers

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


#: Loopback, RFC 1918, link-local and IPv6 unique-local networks: "inside" for /metrics.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def is_private_address(address: str | None) -> bool:
    """True for loopback, private-network and link-local addresses (not documentation ranges,
    which :attr:`ipaddress.IPv4Address.is_private` also counts)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in PRIVATE_NETWORKS)


@lru_cache(maxsize=32)
def _proxy_networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted if entry)


def is_trusted_proxy(peer: str, trusted: tuple[str, ...]) -> bool:
    """True when ``peer`` is one of ``trusted``: addresses or networks (``10.0.0.0/8``), as in
    containers, where the proxy's address is only known to lie in the network's range."""
    if not peer:
        return False
    if peer in trusted:
        return True
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(ip in network for network in _proxy_networks(trusted))


class LinkFleetRequest(Request):
    """A request that knows its request id and the client behind our one trusted proxy."""

    #: Header carrying the id nginx assigns (``$request_id``); reused so logs join up.
    request_id_header = "X-Request-ID"

    @cached_property
    def request_id(self) -> str:
        """The proxy's id when it is well formed, else a fresh one (never trust garbage)."""
        return self.proxy_request_id or uuid.uuid4().hex

    @cached_property
    def proxy_request_id(self) -> str | None:
        """The id our trusted proxy gave this request, which it keeps when it retries the
        request on another replica; None when the request did not come through that proxy
        or the id is malformed (a client must not choose ids that spend visits once)."""
        incoming = self.headers.get(self.request_id_header, "")
        if not _REQUEST_ID.match(incoming):
            return None
        if not is_trusted_proxy(self.remote_addr or "", current_app.config["TRUSTED_PROXIES"]):
            return None
        return incoming

    @cached_property
    def client_ip(self) -> str:
        """The client address, taking exactly one hop of ``X-Forwarded-For`` from a trusted proxy.

        Only the last entry is the one our proxy appended; anything before it is what the
        client claimed and could be forged.
        """
        peer = self.remote_addr or ""
        trusted: tuple[str, ...] = current_app.config["TRUSTED_PROXIES"]
        if is_trusted_proxy(peer, trusted):
            forwarded = self.environ.get("HTTP_X_FORWARDED_FOR", "")
            last_hop = forwarded.rsplit(",", 1)[-1].strip()
            if last_hop:
                try:
                    return str(ipaddress.ip_address(last_hop))
                except ValueError:
                    return peer
        return peer


class LinkFleetResponse(Response):
    """A response stamped with the replica that served it and the request id."""

    #: Sent unless a view set its own; CSP allows no inline script or style.
    default_security_headers: tuple[tuple[str, str], ...] = (
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
        (
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'",
        ),
    )
    #: Only sent over HTTPS, where it cannot lock plain-HTTP local setups out.
    hsts_header = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    #: A ``Location`` already in URI form, sent as is. werkzeug re-encodes a ``Location``
    #: header (IRI to URI, IDNA) on every response; the redirect hot path sets this instead,
    #: with its target encoded once when the link entered the cache.
    uri_location: str | None = None

    def get_wsgi_headers(self, environ: WSGIEnvironment) -> Headers:
        headers = super().get_wsgi_headers(environ)
        if self.uri_location is not None:
            headers["Location"] = self.uri_location
        return headers

    def stamp(self, *, served_by: str, request_id: str, secure: bool) -> None:
        """Add the fleet headers; cheap enough for the redirect hot path."""
        headers = self.headers
        headers["X-Served-By"] = served_by
        headers["X-Request-ID"] = request_id
        for name, value in self.default_security_headers:
            headers.setdefault(name, value)
        if secure:
            headers.setdefault(*self.hsts_header)


class LinkFleet(Flask):
    """The LinkFleet application: one per process, built by :func:`service.create_app`."""

    #: Parses the request id and the real client address.
    request_class = LinkFleetRequest
    #: Carries ``X-Served-By``, ``X-Request-ID`` and the security headers.
    response_class = LinkFleetResponse

    def process_response(self, response: Response) -> Response:
        """Stamp every response, error pages and static files included, then run hooks."""
        response = super().process_response(response)
        if isinstance(response, LinkFleetResponse):
            response.stamp(
                served_by=self.config["REPLICA_NAME"],
                request_id=request.request_id,  # type: ignore[attr-defined]
                secure=request.is_secure,
            )
        return response
