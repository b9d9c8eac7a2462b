"""The Flask subclass and its request/response classes.

Override points are class attributes, each documented with ``#:``, as Flask itself does:
the replica-aware behaviour lives in the classes, not in scattered hooks.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Protocol

from flask import Flask, Request, Response, current_app, request

from .redirect_lane import RedirectLane

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
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


def request_id_of(environ: WSGIEnvironment) -> str:
    """The proxy's ``X-Request-ID`` (nginx's ``$request_id``) when it is well formed, else a
    fresh one (never trust garbage): one rule for the full request and the redirect lane."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    if _REQUEST_ID.match(incoming):
        return str(incoming)
    return uuid.uuid4().hex


#: Sent on every response unless a view set its own; CSP allows no inline script or style.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
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
HSTS_HEADER = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def fleet_headers(served_by: str, request_id: str, *, secure: bool) -> list[tuple[str, str]]:
    """What every response carries: replica, request id, security headers (HSTS over HTTPS).

    One list for the full request and the redirect lane; the replica and id always win, the
    security headers only where a view did not set its own.
    """
    headers = [("X-Served-By", served_by), ("X-Request-ID", request_id), *SECURITY_HEADERS]
    if secure:
        headers.append(HSTS_HEADER)
    return headers


_ALWAYS_SET = frozenset({"x-served-by", "x-request-id"})


class LinkFleetRequest(Request):
    """A request that knows its request id and the client behind our one trusted proxy."""

    @cached_property
    def request_id(self) -> str:
        """See :func:`request_id_of`."""
        return request_id_of(self.environ)

    @cached_property
    def proxy_request_id(self) -> str | None:
        """The id our trusted proxy gave this request, which it keeps when it retries the
        request on another replica; None when the request did not come through that proxy
        or the id is malformed (a client must not choose ids that spend visits once)."""
        incoming = self.environ.get("HTTP_X_REQUEST_ID", "")
        if not _REQUEST_ID.match(incoming):
            return None
        if not is_trusted_proxy(self.remote_addr or "", self.trusted_proxies):
            return None
        return str(incoming)

    @cached_property
    def trusted_proxies(self) -> tuple[str, ...]:
        """The app's ``TRUSTED_PROXIES``; the redirect lane, which runs without an app
        context, sets it on the request it builds."""
        return current_app.config["TRUSTED_PROXIES"]  # type: ignore[no-any-return]

    @cached_property
    def client_ip(self) -> str:
        """The client address, taking exactly one hop of ``X-Forwarded-For`` from a trusted proxy.

        Only the last entry is the one our proxy appended; anything before it is what the
        client claimed and could be forged.
        """
        peer = self.remote_addr or ""
        if is_trusted_proxy(peer, self.trusted_proxies):
            forwarded = self.environ.get("HTTP_X_FORWARDED_FOR", "")
            last_hop = forwarded.rsplit(",", 1)[-1].strip()
            if last_hop:
                try:
                    return str(ipaddress.ip_address(last_hop))
                except ValueError:
                    return peer
        return peer


class LinkFleetResponse(Response):
    """A response that can carry a ``Location`` already in URI form."""

    #: A ``Location`` already in URI form, sent as is. werkzeug re-encodes a ``Location``
    #: header (IRI to URI, IDNA) on every response; the redirect sets this instead, with its
    #: target encoded once when the link entered the cache.
    uri_location: str | None = None

    def get_wsgi_headers(self, environ: WSGIEnvironment) -> Headers:
        headers = super().get_wsgi_headers(environ)
        if self.uri_location is not None:
            headers["Location"] = self.uri_location
        return headers

    def stamp(self, *, served_by: str, request_id: str, secure: bool) -> None:
        """Add :func:`fleet_headers`: one pass over the headers a view set, none per header."""
        headers = self.headers
        present = {name.lower() for name in headers.keys()}  # noqa: SIM118  # Headers, not a dict
        for name, value in fleet_headers(served_by, request_id, secure=secure):
            lower = name.lower()
            if lower in _ALWAYS_SET:
                if lower in present:
                    headers[name] = value
                else:
                    headers.add(name, value)
            elif lower not in present:
                headers.add(name, value)


class FastLane(Protocol):
    """What :attr:`LinkFleet.fast_lane_class` builds: a WSGI callable that answers some
    requests by itself and returns None for every other one."""

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes] | None: ...


def stamp_response(response: Response) -> Response:
    """``after_request`` of every app (registered first, so it runs last): the fleet headers
    on every response, error pages and static files included."""
    if isinstance(response, LinkFleetResponse):
        response.stamp(
            served_by=current_app.config["REPLICA_NAME"],
            request_id=request.request_id,  # type: ignore[attr-defined]
            secure=request.is_secure,
        )
    return response


class LinkFleet(Flask):
    """The LinkFleet application: one per process, built by :func:`service.create_app`."""

    #: Parses the request id and the real client address.
    request_class = LinkFleetRequest
    #: Can carry a pre-encoded ``Location``; :func:`stamp_response` adds the fleet headers.
    response_class = LinkFleetResponse
    #: Built once per app with the app as its argument; answers cached, unlimited,
    #: password-free redirects before Flask builds a request context (see
    #: :mod:`service.redirect_lane`). None sends every request through Flask's dispatch.
    fast_lane_class: type[FastLane] | None = RedirectLane
    #: Set by :func:`service.register_extensions`: every extension, in registration order.
    registered_extensions: tuple[object, ...] = ()

    @cached_property
    def fast_lane(self) -> FastLane | None:
        """The app's lane; tests set ``app.fast_lane = None`` to force the full dispatch."""
        lane_class = self.fast_lane_class
        return None if lane_class is None else lane_class(self)  # type: ignore[call-arg]

    def shutdown(self, *, flush: bool = True) -> None:
        """Stop what the extensions run in this process (listener, shipper, pools), last
        registered first (tests, orderly exits). ``flush=False`` leaves the analytics spool as
        a crash would (see :meth:`.analytics.extension.Analytics.shutdown`)."""
        for extension in reversed(self.registered_extensions):
            stop = getattr(extension, "shutdown", None)
            if stop is not None:
                stop(self, flush=flush)

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The fast lane first; whatever it declines goes through Flask as usual."""
        lane = self.fast_lane
        if lane is not None:
            answer = lane(environ, start_response)
            if answer is not None:
                return answer
        return super().wsgi_app(environ, start_response)
