"""Target URL validation: what a short link may point at, in one canonical form.

A short link hands its target to every browser that follows it, so only plain web URLs pass:
``http``/``https`` with a host, no credentials, no control characters, at most 2048
characters. Whatever passes is rewritten into one ASCII form (punycode host, percent-encoded
path) so that the ``Location`` header is always valid and a second validation is a no-op.
Links back to this service's own short URLs are refused: they would redirect in a loop.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import idna
from flask import current_app, has_app_context, has_request_context, request

from .errors import ValidationError
from .slugs import SLUG_PATTERN, reserved_slugs

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HOST_LENGTH = 253

# C0 and C1 controls and DEL: browsers silently drop tabs and newlines, so "java\tscript:"
# would run as "javascript:"; refusing every control character closes that door.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# An ASCII host label; underscores are tolerated because real (intranet) hosts use them.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


class _Refused(Exception):
    """Internal: the message for the single field being validated."""


def validate_target_url(value: object, *, own_hosts: Iterable[str] = (), field: str = "url") -> str:
    """The canonical form of ``value``, or :class:`ValidationError` ``{field: message}``.

    ``own_hosts`` are the host names this service answers on (see :func:`service_hosts`); a
    URL on one of them whose path could be a short link is refused.
    """
    try:
        return _canonical_url(value, own_hosts)
    except _Refused as refused:
        raise ValidationError({field: str(refused)}) from None


def service_hosts() -> set[str]:
    """The hosts this service is reached at: ``PUBLIC_URL``'s and the current request's."""
    hosts: set[str] = set()
    if has_app_context():
        public_url = current_app.config.get("PUBLIC_URL") or ""
        if public_url:
            hosts.add(_host_key(urlsplit(public_url).hostname or ""))
    if has_request_context():
        with contextlib.suppress(ValueError):  # a Host header no URL parser accepts
            hosts.add(_host_key(urlsplit(f"//{request.host}").hostname or ""))
    hosts.discard("")
    return hosts


def is_service_host(value: str) -> bool:
    """Whether ``value`` (a host name, ``host:port`` or a URL) names a host of this service,
    as the peer APIs' ``domain`` fields may."""
    text = value.strip()
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    except ValueError:  # no URL parser accepts it
        return False
    return bool(host) and _host_key(host) in service_hosts()


def canonical_host(host: str, *, bracketed: bool = False, field: str = "host") -> str:
    """A host name in the one ASCII form links use (punycode, lower case), or
    :class:`ValidationError` ``{field: message}``: the branded domains' host check."""
    try:
        return _canonical_host(host, bracketed=bracketed)
    except _Refused as refused:
        raise ValidationError({field: str(refused)}) from None


def _canonical_url(value: object, own_hosts: Iterable[str]) -> str:
    if not isinstance(value, str):
        raise _Refused("Enter the URL as text.")
    url = value.strip()
    if not url:
        raise _Refused("Enter the URL the short link should lead to.")
    if len(url) > MAX_URL_LENGTH:
        raise _Refused(f"Use at most {MAX_URL_LENGTH} characters.")
    if _CONTROL.search(url):
        raise _Refused("The URL must not contain control characters such as tabs or line breaks.")
    if url.startswith(("//", "\\\\", "/\\", "\\/")):
        raise _Refused("Scheme-relative URLs are not allowed; start with http:// or https://.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _Refused("This is not a valid URL (check the host name and port).") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise _Refused("Start the URL with http:// or https://.")
    if scheme not in ALLOWED_SCHEMES:
        raise _Refused("Only http:// and https:// links are allowed.")
    if not parts.netloc:
        raise _Refused("The URL needs a host name, as in https://example.com/.")
    if "@" in parts.netloc:
        raise _Refused("The URL must not contain a user name or password.")
    if port == 0:
        raise _Refused("Port 0 is not a valid port.")
    host = _canonical_host(parts.hostname or "", bracketed="[" in parts.netloc)

    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _quote(parts.path, _PATH_SAFE)
    query, fragment = _quote(parts.query, _QUERY_SAFE), _quote(parts.fragment, _QUERY_SAFE)
    canonical = urlunsplit((scheme, netloc, path, query, fragment))
    if len(canonical) > MAX_URL_LENGTH:
        raise _Refused(f"Use at most {MAX_URL_LENGTH} characters (after encoding).")
    if _loops_back(host, path, own_hosts):
        raise _Refused(
            "This URL is a short link of this service; pointing at it would redirect in a loop."
        )
    return canonical


def _canonical_host(host: str, *, bracketed: bool) -> str:
    """The host in ASCII: IP literals as the ``ipaddress`` module writes them, names in punycode."""
    if not host:
        raise _Refused("The URL needs a host name, as in https://example.com/.")
    if bracketed:
        if "%" in host:
            raise _Refused("IPv6 zone identifiers are not allowed in links.")
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise _Refused("The host is not a valid IPv6 address.") from None
    if not host.isascii():
        # UTS 46 first: it maps look-alikes (full-width letters, superscript digits, "。").
        try:
            host = idna.encode(host, uts46=True).decode("ascii").lower()
        except (UnicodeError, ValueError):
            raise _Refused("The host is not a valid international domain name.") from None
    labels = host.split(".")
    if labels[-1] == "":
        labels.pop()  # a fully qualified name may end with a dot; it is kept as given
    if labels and _NUMERIC_LABEL.fullmatch(labels[-1]):
        # Browsers read a host ending in a number as an IPv4 address; accept the plain form only.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise _Refused("The host is not a valid IPv4 address.") from None
    if len(host) > MAX_HOST_LENGTH:
        raise _Refused(f"The host name is longer than {MAX_HOST_LENGTH} characters.")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise _Refused("The host name is not valid.")
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (UnicodeError, ValueError):
                raise _Refused("The host is not a valid international domain name.") from None
    return host


def _quote(part: str, safe: str) -> str:
    """Percent-encode what may not appear raw; keep existing escapes, fix stray ``%``."""
    return quote(_STRAY_PERCENT.sub("%25", part), safe=safe)


def _host_key(host: str) -> str:
    """A host name reduced for comparison: lower case, ASCII, no brackets or final dot."""
    host = host.strip().lower().strip("[]").rstrip(".")
    if host and not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (UnicodeError, ValueError):
            return host
    return host


def _loops_back(host: str, path: str, own_hosts: Iterable[str]) -> bool:
    """True for ``https://<our host>/<something that could be a slug>``.

    The port is ignored on purpose: the replicas, nginx and the public name share a host but
    not a port, and a loop through any of them is still a loop.
    """
    keys = {_host_key(own) for own in own_hosts} - {""}
    if not keys or _host_key(host) not in keys:
        return False
    candidate = unquote(path)[1:]  # the router decodes the path before matching /<slug>
    return bool(SLUG_PATTERN.fullmatch(candidate)) and candidate.lower() not in reserved_slugs()
