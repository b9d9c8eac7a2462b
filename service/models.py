"""Imports every model so that metadata (and Alembic autogenerate) sees all tables."""

from .accounts.models import User
from .analytics.models import (
    DailyDimension,
    DailyVisitor,
    HourlyVisits,
    OrphanHourly,
    ProcessedEvent,
)
from .api.models import ApiKey
from .domains.models import Domain
from .links.models import Link, Tag, link_tags
from .migrate.models import MigrationJob
from .webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "DailyDimension",
    "DailyVisitor",
    "Domain",
    "HourlyVisits",
    "Link",
    "MigrationJob",
    "OrphanHourly",
    "ProcessedEvent",
    "Tag",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "link_tags",
]
