"""``/api/v1/webhooks``: create (the secret shown once), list, read, change, delete an
account's webhooks, read their delivery log and queue a test ping.

Endpoints belong to the key's owner only (also for an admin): someone else's id is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request, url_for
from werkzeug.wrappers import Response

from ..webhooks.outbox import enqueue_ping
from ..webhooks.services import (
    change_endpoint,
    create_endpoint,
    delete_endpoint,
    deliveries_of,
    endpoint_of,
    endpoints_of,
)
from .auth import add_ratelimit_headers
from .core import ApiBlueprint
from .errors import register_problem_handlers
from .links import check_body
from .schemas import (
    WebhookCreatedSchema,
    WebhookCreateSchema,
    WebhookDeliverySchema,
    WebhookSchema,
    WebhookUpdateSchema,
)

bp = ApiBlueprint(
    "webhooks_api",
    __name__,
    url_prefix="/api/v1",
    description="Webhooks: signed events about your links, sent by the worker.",
)
register_problem_handlers(bp)
bp.after_request(add_ratelimit_headers)


@bp.before_request
def check_webhook_body() -> None:
    """The links API's body rules (bounded, JSON), except for a ping, which has no body."""
    if request.endpoint != "webhooks_api.ping":
        check_body()


def _owner_id() -> int:
    return int(g.api_user.id)


def _owned(view: Callable[..., Any]) -> Callable[..., Any]:
    """404 for someone else's webhook before the body is even parsed (put it right under
    ``authenticated``), so a wrong body answers the same as a right one: no probing."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        endpoint_of(_owner_id(), kwargs["endpoint_id"])
        return view(*args, **kwargs)

    return wrapper


@bp.route("/webhooks", methods=["POST"])
@bp.authenticated("write")
@bp.arguments(WebhookCreateSchema)
@bp.response(201, WebhookCreatedSchema, headers={"Location": {"schema": {"type": "string"}}})
def create(data: dict[str, Any]) -> tuple[Any, int, dict[str, str]]:
    """Create a webhook

    The answer carries the signing `secret`, which is never shown again. The URL must be
    https:// and resolve to public addresses only (else 422).
    """
    endpoint = create_endpoint(_owner_id(), data["url"], data["events"])
    location = url_for("webhooks_api.read", endpoint_id=endpoint.id, _external=True)
    return endpoint, 201, {"Location": location}


@bp.route("/webhooks", methods=["GET"])
@bp.authenticated("read")
@bp.response(200, WebhookSchema(many=True))
def index() -> Any:
    """List your webhooks"""
    return endpoints_of(_owner_id())


@bp.route("/webhooks/<int:endpoint_id>", methods=["GET"])
@bp.authenticated("read")
@bp.response(200, WebhookSchema)
def read(endpoint_id: int) -> Any:
    """Read a webhook"""
    return endpoint_of(_owner_id(), endpoint_id)


@bp.route("/webhooks/<int:endpoint_id>", methods=["PATCH"])
@bp.authenticated("write")
@_owned
@bp.arguments(WebhookUpdateSchema, description="Only the fields to change.")
@bp.response(200, WebhookSchema)
def change(data: dict[str, Any], endpoint_id: int) -> Any:
    """Change a webhook

    `enabled: true` re-enables one the worker disabled after repeated failures.
    """
    return change_endpoint(endpoint_of(_owner_id(), endpoint_id), **data)


@bp.route("/webhooks/<int:endpoint_id>", methods=["DELETE"])
@bp.authenticated("write")
@bp.response(204)
def remove(endpoint_id: int) -> Response:
    """Delete a webhook and its delivery log"""
    delete_endpoint(endpoint_of(_owner_id(), endpoint_id))
    return Response(status=204)


@bp.route("/webhooks/<int:endpoint_id>/deliveries", methods=["GET"])
@bp.authenticated("read")
@bp.response(200, WebhookDeliverySchema(many=True))
def deliveries(endpoint_id: int) -> Any:
    """The delivery log of a webhook (newest first, at most 50)"""
    return deliveries_of(endpoint_of(_owner_id(), endpoint_id))


@bp.route("/webhooks/<int:endpoint_id>/ping", methods=["POST"])
@bp.authenticated("write")
@bp.response(202)
def ping(endpoint_id: int) -> Response:
    """Queue a test ping

    The worker sends a `ping` event to the webhook; it shows in the delivery log.
    """
    enqueue_ping(endpoint_of(_owner_id(), endpoint_id))
    return Response(status=202)
