"""Imports every model so that metadata (and Alembic autogenerate) sees all tables."""

from .accounts.models import User
from .links.models import Link, Tag, link_tags

__all__ = ["Link", "Tag", "User", "link_tags"]
