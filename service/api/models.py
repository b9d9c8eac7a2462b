"""The ApiKey model: what a program presents as ``Authorization: Bearer <key>``.

A key reads ``lf_<prefix>_<secret>``. The prefix (8 base62 characters) is public: it finds the
row and is shown in the dashboard so that people can tell their keys apart. Only a SHA-256
digest of the whole key is stored; the key itself is shown once, when it is made.

Why SHA-256 and not argon2 (which hashes account passwords): a key carries 256 random bits
from the OS's CSPRNG, so guessing it from a leaked digest is hopeless at any hash speed. Slow,
memory-hard hashes exist to protect low-entropy, human-chosen passwords; on a key that every
API request presents, argon2id's ~19 MiB and tens of milliseconds would only cap throughput.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..extensions.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from ..accounts.models import User

#: ``read`` keys may only GET; ``write`` keys may also create, change, delete and import.
SCOPES = ("read", "write")


class ApiKey(db.Model):  # type: ignore[name-defined, misc]
    """An API key of ``owner``; revoked keys are kept (with ``revoked_at``) for the record."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("scope IN ('read', 'write')", name="scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: Public part of the key, unique: finds the row, tells keys apart in lists.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: Hex SHA-256 of the whole key.
    key_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(8), default="write")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Refreshed at most once a minute (see ``API_KEY_TOUCH_INTERVAL``), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    owner: Mapped[User] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == "write"

    @property
    def display(self) -> str:
        """How lists show the key: its public start, never the secret."""
        return f"lf_{self.prefix}_…"

    def __repr__(self) -> str:
        return f"<ApiKey {self.prefix} {self.scope}>"
