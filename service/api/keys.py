"""API key operations shared by the dashboard, the CLI and the request authentication.

No request or click in here. A key is ``lf_<prefix>_<secret>``: the prefix finds the row, the
SHA-256 of the whole key is compared in constant time (see :mod:`.models` for why not argon2).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from datetime import timedelta

from sqlalchemy import or_, select, update

from ..extensions import db
from ..extensions.types import utcnow
from .models import SCOPES, ApiKey

#: What an API key looks like; the secret is 32 random bytes in URL-safe base64.
KEY_PATTERN = re.compile(r"lf_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})")
PREFIX_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 8
MAX_NAME_LENGTH = 100
MAX_KEYS_PER_USER = 50


class ApiKeyError(ValueError):
    """A key could not be created; the message is fit to show as is."""


def hash_key(key: str) -> str:
    """Hex SHA-256 of the whole key (what the database holds)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _new_prefix() -> str:
    return "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


def create_api_key(owner_id: int, name: str, scope: str = "write") -> tuple[ApiKey, str]:
    """Create and commit a key; returns the row and the key, which is never seen again."""
    label = " ".join((name or "").split())
    if not label:
        raise ApiKeyError("Give the key a name, e.g. the program that will use it.")
    if len(label) > MAX_NAME_LENGTH:
        raise ApiKeyError(f"Use at most {MAX_NAME_LENGTH} characters for the name.")
    if scope not in SCOPES:
        raise ApiKeyError("The scope must be read or write.")
    active = db.session.scalar(
        select(db.func.count(ApiKey.id)).where(
            ApiKey.owner_id == owner_id, ApiKey.revoked_at.is_(None)
        )
    )
    if (active or 0) >= MAX_KEYS_PER_USER:
        raise ApiKeyError(f"You have {MAX_KEYS_PER_USER} active keys; revoke one first.")
    while True:
        prefix = _new_prefix()
        if db.session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            break
    key = f"lf_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(owner_id=owner_id, name=label, prefix=prefix, key_hash=hash_key(key), scope=scope)
    db.session.add(row)
    db.session.commit()
    return row, key


def find_active_key(presented: str) -> ApiKey | None:
    """The active key ``presented`` stands for, else None (malformed, unknown or revoked)."""
    match = KEY_PATTERN.fullmatch(presented)
    if match is None:
        return None
    row: ApiKey | None = db.session.scalar(
        select(ApiKey).where(ApiKey.prefix == match.group(1), ApiKey.revoked_at.is_(None))
    )
    if row is None or not hmac.compare_digest(row.key_hash, hash_key(presented)):
        return None
    return row


def touch(key: ApiKey, *, interval: float) -> None:
    """Record a use, writing at most once per ``interval`` seconds per key.

    The UPDATE is conditional, so replicas that race write once, and a request that finds
    a fresh timestamp writes nothing at all.
    """
    now = utcnow()
    stale = now - timedelta(seconds=interval)
    if key.last_used_at is not None and key.last_used_at > stale:
        return
    db.session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale)
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def keys_of(owner_id: int) -> list[ApiKey]:
    """The user's keys, newest first, revoked ones included (marked)."""
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.owner_id == owner_id)
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    )


def revoke(owner_id: int, key_id: int) -> ApiKey | None:
    """Revoke the user's key ``key_id``; None when they have no such key."""
    row: ApiKey | None = db.session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.owner_id == owner_id)
    )
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row
