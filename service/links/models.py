"""The Link and Tag models."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..extensions.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from ..accounts.models import User
    from ..domains.models import Domain

#: A slug is unique per domain: on an added domain through ``(domain_id, slug)``, on the
#: default domain (``domain_id`` NULL, which a unique constraint never compares) through a
#: partial index.
_DEFAULT_DOMAIN = text("domain_id IS NULL")

#: Redirect statuses a link may use; 302 keeps browsers from caching the target forever.
REDIRECT_TYPES = (301, 302, 307, 308)
DEFAULT_REDIRECT_TYPE = 302

link_tags = Table(
    "link_tags",
    db.metadata,
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(db.Model):  # type: ignore[name-defined, misc]
    """A label on links, shared by name."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class Link(db.Model):  # type: ignore[name-defined, misc]
    """A short link: ``slug`` redirects to ``url`` with ``redirect_type``."""

    __tablename__ = "links"
    __table_args__ = (
        Index("ix_links_owner_created", "owner_id", "created_at"),
        UniqueConstraint("domain_id", "slug", name="uq_links_domain_slug"),
        Index(
            "uq_links_default_slug",
            "slug",
            unique=True,
            sqlite_where=_DEFAULT_DOMAIN,
            postgresql_where=_DEFAULT_DOMAIN,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64))
    #: The added domain the link lives on; NULL: the default (public) host.
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id"), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(200), default="")
    redirect_type: Mapped[int] = mapped_column(SmallInteger, default=DEFAULT_REDIRECT_TYPE)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    max_visits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Listed as allowed in the domain's ``/robots.txt`` (Shlink's ``crawlable``).
    crawlable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The redirect appends the visit's query string to the target (Shlink's ``forwardQuery``).
    forward_query: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Redirect rules in their stored form (:mod:`.rules`); NULL or ``[]``: none.
    rules: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON(none_as_null=True), nullable=True
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship(back_populates="links")
    domain: Mapped[Domain | None] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=link_tags, lazy="selectin", order_by=Tag.name)

    @property
    def host(self) -> str | None:
        """The added domain's host, or None on the default domain."""
        return None if self.domain is None else self.domain.host

    @staticmethod
    def on_domain(domain_id: int | None) -> ColumnElement[bool]:
        """The criterion of the links on the domain ``domain_id`` (None: the default one)."""
        return Link.domain_id.is_(None) if domain_id is None else Link.domain_id == domain_id

    def __repr__(self) -> str:
        return f"<Link {self.slug}>"
