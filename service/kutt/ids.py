"""Kutt's link ids: UUID-shaped strings, derived from the link instead of stored.

Kutt addresses a link by a UUID that never changes, even when its short name does, and its
clients check that an id has 36 characters. LinkFleet links have an integer id, so the
Kutt id is computed from it, with no column, migration or change to the write path (the
importer's bulk inserts included): an RFC 9562 version-8 ("vendor-specific") UUID whose low
62 bits are the link id and whose other 60 bits are a fingerprint of the id and the creation
second. The fingerprint matters because SQLite may give a deleted link's id to a new link:
the old id then names nothing (404) instead of the newcomer. It is a plain hash, not keyed by
the secret key, so rotating the secret keeps every id a client has stored.

A domain's Kutt id is the name-based (version 5) UUID of its host: no link id can be one,
and it names the same domain for as long as the host is added.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime

#: What Kutt's validators accept as an id before looking it up.
ID_LENGTH = 36
_ID_BITS = 62
_MAX_LINK_ID = 2**_ID_BITS - 1
#: ``links.id`` is a 32-bit INTEGER: a larger id names no link, and PostgreSQL would refuse
#: to compare it with the column rather than answer no row.
_MAX_STORED_ID = 2**31 - 1
_VERSION = 8
_VARIANT = 0b10
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _fingerprint(link_id: int, created_at: datetime) -> int:
    """60 bits that tie the id to one link: its id and its creation time in whole seconds
    (seconds, so that no backend's timestamp precision changes the id)."""
    material = f"linkfleet-kutt-id:{link_id}:{int(created_at.timestamp())}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") >> 4


def public_id(link_id: int, created_at: datetime) -> str:
    """The Kutt id of the link ``link_id`` created at ``created_at``."""
    if not 0 < link_id <= _MAX_LINK_ID:
        raise ValueError(f"link id {link_id} does not fit a Kutt id")
    mark = _fingerprint(link_id, created_at)
    value = (mark >> 12) << 80 | _VERSION << 76 | (mark & 0xFFF) << 64 | _VARIANT << 62 | link_id
    return str(uuid.UUID(int=value))


def link_id_of(text: str) -> int | None:
    """The link id a Kutt id names, or None when ``text`` cannot be one of ours. Whether it
    still names that link is :func:`names`' question (it needs the link's creation time)."""
    if len(text) != ID_LENGTH or not _UUID_TEXT.fullmatch(text):
        return None
    value = uuid.UUID(text).int
    if (value >> 76) & 0xF != _VERSION or (value >> 62) & 0b11 != _VARIANT:
        return None
    link_id = value & _MAX_LINK_ID
    return link_id if 0 < link_id <= _MAX_STORED_ID else None


def names(text: str, link_id: int, created_at: datetime) -> bool:
    """True when ``text`` is the Kutt id of this very link (not of an earlier holder of its id)."""
    return text.lower() == public_id(link_id, created_at)


def domain_public_id(host: str) -> str:
    """The Kutt id of the added domain ``host`` (its normal form)."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, host))
