"""``yourls_api_output``: a YOURLS result as JSON, JSONP, XML or plain text.

The HTTP status is the result's ``statusCode``, else its ``errorCode``, else 200. The
format is ``format`` (``xml`` when absent, like YOURLS; anything unknown is ``simple``).
JSON is encoded as PHP's ``json_encode`` does (``\\/`` and ``\\uXXXX`` escapes), XML as
YOURLS' Spatie ArrayToXml does (a ``<root>`` element, one child element per key). A JSONP
``callback`` must be a plain JavaScript name (``[A-Za-z0-9_$.]+``, no ``\\uXXXX``), else the
answer is YOURLS 1.10's 400 ``Invalid callback parameter``: never script from the request.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app

_CALLBACK = re.compile(r"^[a-zA-Z0-9_$.]+$")
_UNICODE_ESCAPE = re.compile(r"\\?u[0-9a-fA-F]{4}")
_MIMETYPES = {
    "jsonp": "application/javascript",
    "json": "application/json",
    "xml": "application/xml",
}


def php_json(value: Any) -> str:
    """``json_encode`` with PHP's default flags: ASCII only, ``/`` escaped."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def xml_document(result: Mapping[str, Any]) -> str:
    """The result as YOURLS' XML: ``<?xml …?><root><key>value</key>…</root>``."""
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<root>{_xml_items(result)}</root>\n'


def _xml_items(items: Mapping[str, Any]) -> str:
    parts = []
    for key, value in items.items():
        name = str(key).replace(" ", "_")
        if isinstance(value, Mapping):
            parts.append(f"<{name}>{_xml_items(value)}</{name}>")
        else:
            text = html.escape(_scalar(value), quote=False)
            parts.append(f"<{name}>{text}</{name}>" if text else f"<{name}/>")
    return "".join(parts)


def _scalar(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    return str(value)


def valid_callback(callback: str) -> bool:
    """``yourls_validate_jsonp_callback``."""
    return not _UNICODE_ESCAPE.search(callback) and bool(_CALLBACK.fullmatch(callback))


def status_of(result: Mapping[str, Any]) -> int:
    """``statusCode``, else ``errorCode``, else 200; YOURLS' ``intval`` of an odd one is 0,
    which no server can send, so that is a 200 here."""
    raw = result.get("statusCode", result.get("errorCode", 200))
    try:
        status = int(raw)
    except (TypeError, ValueError):
        return 200
    return status if 100 <= status <= 599 else 200


def render(mode: str, result: dict[str, Any]) -> Response:
    """The response YOURLS sends for ``result`` in ``mode``."""
    simple = result.pop("simple", None)
    status = status_of(result)
    mimetype = _MIMETYPES.get(mode, "text/plain")
    if mode == "jsonp":
        callback = str(result.get("callback", ""))
        if callback and not valid_callback(callback):
            status = 400
            body = php_json({"errorCode": "400", "error": "Invalid callback parameter"})
        else:
            body = f"{callback}({php_json(result)})"
    elif mode == "json":
        body = php_json(result)
    elif mode == "xml":
        body = xml_document(result)
    else:
        body = "" if simple is None else str(simple)
    response = current_app.response_class(
        body, status=status, content_type=f"{mimetype}; charset=utf-8"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
