"""Account operations shared by the web views and the CLI: no request or click in here.

Every failure is an :class:`AccountError` whose message is fit to show as is.
"""

from __future__ import annotations

import functools

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..passwords import hash_password, verify_password
from .models import User

#: OWASP: at least 8; we ask for 10. The upper bound keeps hashing cheap for junk input.
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 254


class AccountError(ValueError):
    """An account could not be created or changed; ``field`` names the culprit, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def normalise_email(raw: str) -> str:
    """The address in the form we store: syntax checked (no DNS lookup), lower-cased."""
    text = (raw or "").strip()
    if not text:
        raise AccountError("Enter an email address.", field="email")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise AccountError(f"Invalid email address: {error}", field="email") from None
    email = result.normalized.lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise AccountError("Invalid email address: it is too long.", field="email")
    return email


def check_password_strength(password: str, *, field: str = "password") -> None:
    """Length rules only (NIST SP 800-63B): no composition rules, no silent truncation."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.", field=field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.", field=field
        )


def find_user(email: str) -> User | None:
    """The user with this (already normalised) email, or None."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def create_user(email: str, password: str, *, is_admin: bool = False) -> User:
    """Create and commit a user; duplicate, invalid email and short password are refused."""
    address = normalise_email(email)
    check_password_strength(password)
    if find_user(address) is not None:
        raise AccountError(f"An account for {address} already exists.", field="email")
    user = User(email=address, password_hash=hash_password(password), is_admin=is_admin)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent sign-up won the race for the unique email
        db.session.rollback()
        raise AccountError(f"An account for {address} already exists.", field="email") from None
    return user


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so both paths cost the same."""
    return hash_password("not-a-real-password-just-burning-the-same-time")


def authenticate(email: str, password: str) -> User | None:
    """The user when email and password match, else None; the timing does not tell which."""
    try:
        address = normalise_email(email)
    except AccountError:
        address = None
    user = find_user(address) if address else None
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Replace the password after checking the current one; commits."""
    if not verify_password(user.password_hash, current):
        raise AccountError("The current password is wrong.", field="current_password")
    check_password_strength(new, field="new_password")
    user.password_hash = hash_password(new)
    db.session.commit()
