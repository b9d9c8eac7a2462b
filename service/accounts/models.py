"""The User model."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..extensions.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from ..links.models import Link


class User(UserMixin, db.Model):  # type: ignore[name-defined, misc]
    """A link owner. ``email`` is stored lower-cased; the password only as an argon2id hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    links: Mapped[list[Link]] = relationship(back_populates="owner", cascade="all, delete-orphan")

    @property
    def session_token(self) -> str:
        """Changes with the password, so a password change ends the user's other sessions."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id bound to the current password."""
        return f"{self.id}:{self.session_token}"

    def __repr__(self) -> str:
        return f"<User {self.email}>"
