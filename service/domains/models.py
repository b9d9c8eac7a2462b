"""The Domain model: a branded host whose short links live beside the default domain's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..extensions.types import UTCDateTime, utcnow

#: A host name (253) plus ``:65535``.
MAX_HOST_LENGTH = 261


class Domain(db.Model):  # type: ignore[name-defined, misc]
    """An added domain; links with ``domain_id`` NULL belong to the default (public) host."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Normalised: lower case, punycode, ``:port`` unless 80 or 443 (see :mod:`.hosts`).
    host: Mapped[str] = mapped_column(String(MAX_HOST_LENGTH), unique=True)
    #: Where ``GET /`` on this domain goes (else a 404 page).
    root_redirect: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Where an unknown slug on this domain goes (else the 404 page).
    not_found_redirect: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Where an expired, used-up or disabled link on this domain goes (else 404/410).
    expired_redirect: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Domain {self.host}>"
