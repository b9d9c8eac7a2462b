"""Signatures of deliveries: ``X-LinkFleet-Signature: t=<unix>,v1=<hex>``.

``v1`` is HMAC-SHA256 with the endpoint's secret over ``"<t>.<body>"``: a receiver that
checks it and refuses a ``t`` outside its tolerance window rejects forged and replayed
deliveries alike (docs/WEBHOOKS.md has the receiver's side).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-LinkFleet-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105  # a prefix, not a secret


def new_secret() -> str:
    """256 random bits, shown to the endpoint's owner once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"
