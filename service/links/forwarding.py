"""The visit's query string onto a redirect's target, for links with ``forward_query``.

Shlink's rule: the parameters sent to the short URL are merged into the target's query,
and where both name a parameter the visit's values win.
The target's parameters keep their order, a parameter the visit overrides takes its place
there (with every value the visit gave it), and the visit's other parameters follow in the
order it first named them. A link's redirect rules change the target, not this: the
chosen rule's URL gets the query the same way. A fragment of the target stays last.

The target is already in URI form (encoded when the link entered the cache) and its own
parameters are kept as written; the visit's are decoded (``+`` is a space) and encoded
again, each byte outside ``A-Z a-z 0-9 - . _ ~`` as ``%XX`` (what Shlink writes too), so
whatever a client sends the ``Location`` is a valid URI. A name without ``=`` stays one.
"""

from __future__ import annotations

from urllib.parse import quote_from_bytes, unquote_to_bytes

#: A parameter: its decoded name, and the text it is written as in the result.
_Param = tuple[bytes, str]


def forward_query(location: str, query: str) -> str:
    """``location`` with the visit's ``query`` (the raw ``QUERY_STRING``) merged in."""
    visit = [_encoded(piece) for piece in query.encode("latin-1", "replace").split(b"&") if piece]
    if not visit:
        return location
    rest, hash_mark, fragment = location.partition("#")
    path, _, own_query = rest.partition("?")
    given: dict[bytes, list[str]] = {}
    for name, text in visit:
        given.setdefault(name, []).append(text)
    merged: list[str] = []
    for piece in own_query.split("&"):
        if not piece:
            continue
        name = _name(piece.encode("ascii", "replace"))
        if name not in given:
            merged.append(piece)
        elif given[name]:
            merged.extend(given[name])
            given[name] = []  # the target's other values of this name are replaced too
    merged.extend(text for texts in given.values() for text in texts)
    return f"{path}?{'&'.join(merged)}{hash_mark}{fragment}"


def _name(piece: bytes) -> bytes:
    return unquote_to_bytes(piece.split(b"=", 1)[0].replace(b"+", b" "))


def _encoded(piece: bytes) -> _Param:
    name, equals, value = piece.partition(b"=")
    name_bytes = unquote_to_bytes(name.replace(b"+", b" "))
    text = quote_from_bytes(name_bytes, safe="")
    if equals:
        text += "=" + quote_from_bytes(unquote_to_bytes(value.replace(b"+", b" ")), safe="")
    return name_bytes, text
