"""Host names of domains: one normal form for what an admin types and what a request's
``Host`` header says, so that both meet as the same dict key.

The form is lower case, punycode (IDN), no final dot, ``:port`` kept unless it is 80 or 443:
``go.example.com`` and ``go.example.com:8443`` are two domains, ``GO.Example.com:443`` is the
first. Only the ``Host`` header is read: the app trusts no ``X-Forwarded-Host`` (its proxy,
nginx, passes the client's ``Host`` through unchanged).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..links.errors import ValidationError
from ..links.validation import canonical_host
from .models import MAX_HOST_LENGTH

#: Ports a browser leaves out of ``Host`` (http and https): not part of the normal form.
IMPLIED_PORTS = frozenset({80, 443})
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f/?#@\\]")


def normalise_host(value: object, *, field: str = "host") -> str:
    """The normal form of a host an admin entered (``host`` or ``host:port``), else
    :class:`ValidationError` ``{field: message}``."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({field: "Enter a host name, as in go.example.com."})
    text = value.strip()
    if "://" in text:
        raise ValidationError({field: "Enter the host name only, without http:// or a path."})
    if _CONTROL_OR_SPACE.search(text):
        raise ValidationError(
            {field: "A host name has no spaces, slashes, @ or control characters."}
        )
    try:
        parts = urlsplit(f"//{text}")
        port = parts.port
    except ValueError:
        raise ValidationError({field: "The port must be a number from 1 to 65535."}) from None
    if port == 0:
        raise ValidationError({field: "The port must be a number from 1 to 65535."})
    host = canonical_host(parts.hostname or "", bracketed="[" in text, field=field).rstrip(".")
    normal = host if port is None or port in IMPLIED_PORTS else f"{host}:{port}"
    if len(normal) > MAX_HOST_LENGTH:
        raise ValidationError({field: f"Use at most {MAX_HOST_LENGTH} characters."})
    return normal


def request_host(raw: str) -> str | None:
    """The normal form of a ``Host`` header, or None when it is no host at all."""
    try:
        return normalise_host(raw)
    except ValidationError:
        return None


def url_host(url: str) -> str | None:
    """The normal form of a URL's host and port (``PUBLIC_URL``'s), or None."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    return request_host(netloc) if netloc else None
