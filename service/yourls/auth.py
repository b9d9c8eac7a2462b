"""Who is calling ``/yourls-api.php``: YOURLS' three ways to authenticate, over LinkFleet's
own credentials.

YOURLS checks, in this order: ``timestamp`` and ``signature`` (a time-limited signature),
``signature`` without any ``timestamp`` (a plain signature), then ``username`` and
``password``. Here

* a plain signature is a LinkFleet API key (``lf_…``), with its scope;
* a time-limited signature is ``hash(timestamp + token)`` or ``hash(token + timestamp)``
  (``hash=`` md5, sha1, sha256 or sha512; md5 by default) where the token is the key's
  YOURLS token (:func:`signature_token`): only a hash of a key is stored, so the key itself
  cannot be the secret the server hashes with;
* ``username`` and ``password`` are an account's email and password, checked with the
  accounts service (argon2, the same cost whether or not the email exists).

Every failed attempt spends from the API's budget of failures per client
(:func:`service.api.auth.failure_budget`, shared with unknown Bearer keys), which is checked
before any lookup or password hash, so neither surface can be used to guess credentials
faster than the other allows.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from ..accounts.models import User
from ..accounts.services import authenticate as authenticate_password
from ..api.auth import budgeted
from ..api.keys import find_active_key, touch
from ..api.models import ApiKey
from ..extensions import db
from ..extensions.rate_limits import BudgetSpent

#: YOURLS_NONCE_LIFE's default: a signed timestamp is good for 12 hours either way.
DEFAULT_NONCE_LIFE = 43200
#: The ``hash=`` values accepted for time-limited signatures.
SIGNATURE_HASHES = frozenset({"md5", "sha1", "sha256", "sha512"})
#: YOURLS' two messages of a failed login (``yourls_is_valid_user``).
PLEASE_LOG_IN = "Please log in"
INVALID_LOGIN = "Invalid username or password"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the account, and the key when one was used."""

    user: User
    key: ApiKey | None = None

    @property
    def can_write(self) -> bool:
        """A read key may not shorten; a password login is the whole account."""
        return self.key is None or self.key.can_write


class AuthFailed(Exception):
    """Authentication failed; ``message`` is YOURLS' text, ``retry_after`` set when the
    client's failure budget is spent (429 instead of 403)."""

    def __init__(self, message: str, *, retry_after: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def signature_token(key: ApiKey) -> str:
    """The key's YOURLS token for time-limited signatures: a keyed hash of the stored key
    hash (so the database alone does not give it away; a new secret key changes it)."""
    secret = str(current_app.config.get("SECRET_KEY") or "").encode()
    digest = hmac.new(secret, b"linkfleet-yourls-token:" + key.key_hash.encode(), "sha256")
    return digest.hexdigest()[:32]


def authenticate(params: Mapping[str, str]) -> Caller:
    """The caller of this request, or :class:`AuthFailed` with YOURLS' message."""
    attempted = params.get("signature") or (params.get("username") and params.get("password"))
    if not attempted:
        raise AuthFailed(_failure_message(params))
    try:
        caller = budgeted(lambda: _caller(params))
    except BudgetSpent as spent:
        raise AuthFailed(
            "Too many failed logins from this client; try again later.",
            retry_after=spent.retry_after,
        ) from None
    if caller is None:
        raise AuthFailed(_failure_message(params))
    if caller.key is not None:
        touch(caller.key, interval=float(current_app.config["API_KEY_TOUCH_INTERVAL"]))
    return caller


def _caller(params: Mapping[str, str]) -> Caller | None:
    """Whoever the signature, signed timestamp or username and password stand for."""
    signature = params.get("signature", "")
    timestamp = params.get("timestamp")
    username, password = params.get("username", ""), params.get("password", "")
    if signature and timestamp:
        return _by_signed_timestamp(signature, timestamp, params.get("hash") or "md5")
    if signature and timestamp is None:
        return _by_key(signature)
    if username and password:
        user = authenticate_password(username, password)
        return Caller(user) if user is not None else None
    return None


def _failure_message(params: Mapping[str, str]) -> str:
    """YOURLS' wording: the login message as soon as either field was sent, even empty."""
    return INVALID_LOGIN if "username" in params or "password" in params else PLEASE_LOG_IN


def _by_key(presented: str) -> Caller | None:
    key = find_active_key(presented)
    return Caller(key.owner, key) if key is not None else None


def _by_signed_timestamp(signature: str, timestamp: str, algorithm: str) -> Caller | None:
    """The active key whose token signs ``timestamp`` (YOURLS tries every user the same way:
    the signature does not say whose it is)."""
    if algorithm not in SIGNATURE_HASHES or not _fresh(timestamp):
        return None
    for key in db.session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))):
        token = signature_token(key)
        for signed in (timestamp + token, token + timestamp):
            expected = hashlib.new(algorithm, signed.encode()).hexdigest()
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return Caller(key.owner, key)
    return None


def _fresh(timestamp: str) -> bool:
    """Within YOURLS_NONCE_LIFE of now, in the past or the future (clocks drift)."""
    life = int(current_app.config.get("YOURLS_NONCE_LIFE", DEFAULT_NONCE_LIFE))
    return abs(time.time() - php_intval(timestamp)) < life


def php_intval(text: str) -> int:
    """PHP's ``intval`` of a request string: its leading integer, 0 when there is none."""
    stripped = text.strip()
    sign = -1 if stripped[:1] == "-" else 1
    digits = stripped.lstrip("+-")
    end = 0
    while end < len(digits) and digits[end].isascii() and digits[end].isdigit():
        end += 1
    if end == 0 or len(stripped) - len(digits) > 1:
        return 0
    return sign * int(digits[:end][:19])
