"""Managing endpoints, shared by the dashboard and the API: each user sees only their own.

Errors are the links service's :class:`ValidationError` (422 with field messages), so the
API's problem handler and the dashboard's forms report them without new machinery.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from ..extensions import db
from ..links.errors import ValidationError
from .models import EVENTS, WebhookDelivery, WebhookEndpoint
from .signing import new_secret
from .targets import check_url

#: Rows of the delivery log shown at once.
LOG_PAGE = 50
#: The largest id an INTEGER column holds on both backends.
MAX_ID = 2**31 - 1


def _checked_events(events: Iterable[str]) -> str:
    chosen = list(dict.fromkeys(events))
    unknown = [name for name in chosen if name not in EVENTS]
    if unknown:
        raise ValidationError({"events": f"Unknown events: {', '.join(unknown)}."})
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    return " ".join(name for name in EVENTS if name in chosen)


def _checked_url(url: str) -> str:
    return check_url(url, allow_private=bool(current_app.config["WEBHOOKS_ALLOW_PRIVATE"]))


def create_endpoint(owner_id: int, url: str, events: Iterable[str]) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret (the caller shows it once)."""
    checked_events = _checked_events(events)
    checked_url = _checked_url(url)
    limit = int(current_app.config["WEBHOOKS_MAX_ENDPOINTS"])
    count = db.session.scalar(select(func.count()).where(WebhookEndpoint.owner_id == owner_id))
    if (count or 0) >= limit:
        raise ValidationError({"url": f"An account may have at most {limit} webhooks."})
    endpoint = WebhookEndpoint(
        owner_id=owner_id, url=checked_url, events=checked_events, secret=new_secret()
    )
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def endpoints_of(owner_id: int) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.owner_id == owner_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def endpoint_of(owner_id: int, endpoint_id: int) -> WebhookEndpoint:
    """The user's endpoint, or 404 (also for someone else's: no probing, and for ids no
    integer column holds)."""
    if not 0 < endpoint_id <= MAX_ID:
        raise NotFound("There is no webhook with this id.")
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.owner_id != owner_id:
        raise NotFound("There is no webhook with this id.")
    return endpoint


def change_endpoint(
    endpoint: WebhookEndpoint,
    *,
    url: str | None = None,
    events: Iterable[str] | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what was given; enabling resets the failure count (a fresh start)."""
    if url is not None:
        endpoint.url = _checked_url(url)
    if events is not None:
        endpoint.events = _checked_events(events)
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        endpoint.disabled_reason = ""
        endpoint.consecutive_failures = 0
    db.session.commit()
    return endpoint


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries (pending ones included) go."""
    db.session.query(WebhookDelivery).filter_by(endpoint_id=endpoint.id).delete()
    db.session.delete(endpoint)
    db.session.commit()


def deliveries_of(endpoint: WebhookEndpoint, limit: int = LOG_PAGE) -> list[WebhookDelivery]:
    """The newest deliveries first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
