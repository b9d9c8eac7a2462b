"""marshmallow schemas of the API: what comes in (strict: unknown fields are errors) and out.

The schemas check shapes and types; the links service checks meaning (a safe target URL, a
free and unreserved slug, an expiry in the future) and reports per field like the schemas do.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ..links.fields import (
    FIELDS,
    MAX_TAG_LENGTH,
    printable,
    safe_target,
)

MAX_QUERY_LENGTH = 200


class StrictSchema(ma.Schema):
    """Unknown fields are an error, never silently dropped (a typo must not go unnoticed)."""

    class Meta:
        unknown = ma.RAISE


#: A link as the API shows it: every shown field of :mod:`service.links.fields`.
LinkSchema = ma.Schema.from_dict(
    {spec.name: spec.api_out() for spec in FIELDS if spec.api_out and spec.show},
    name="Link",
)


def _link_fields(*, for_update: bool, check_url: bool = True) -> dict[str, fields.Field[Any]]:
    """The fields the API may write (``url`` is required on create only)."""
    declared: dict[str, fields.Field[Any]] = {}
    for spec in FIELDS:
        if not (spec.api and spec.api_in and (spec.update if for_update else spec.create)):
            continue
        field = spec.api_in(for_update)
        if not check_url:
            field.validators = [rule for rule in field.validators if rule is not safe_target]
        declared[spec.name] = field
    return declared


LinkCreateSchema = StrictSchema.from_dict(_link_fields(for_update=False), name="LinkCreate")
LinkUpdateSchema = StrictSchema.from_dict(_link_fields(for_update=True), name="LinkUpdate")
#: An import row: the create schema, the target URL left to the service's (single) check.
ImportRowSchema = StrictSchema.from_dict(
    _link_fields(for_update=False, check_url=False), name="ImportRow"
)


class LinkListArgsSchema(ma.Schema):
    """Filters of ``GET /api/v1/links`` (query string)."""

    class Meta:
        unknown = ma.EXCLUDE  # page and per_page are the pagination schema's

    tag = fields.String(
        validate=[validate.Length(min=1, max=MAX_TAG_LENGTH), printable],
        metadata={"description": "Only links with this tag."},
    )
    q = fields.String(
        validate=[validate.Length(min=1, max=MAX_QUERY_LENGTH), printable],
        metadata={"description": "Text in the slug, URL or title (case-insensitive)."},
    )
    created_after = fields.AwareDateTime(
        format="iso", default_timezone=UTC, metadata={"description": "Created at or after."}
    )
    created_before = fields.AwareDateTime(
        format="iso", default_timezone=UTC, metadata={"description": "Created before."}
    )


class QrArgsSchema(ma.Schema):
    """Size of a QR code: pixels per module and quiet-zone width in modules."""

    class Meta:
        unknown = ma.EXCLUDE

    scale = fields.Integer(
        load_default=8,
        validate=validate.Range(min=1, max=40),
        metadata={"description": "Pixels (SVG: user units) per module, 1 to 40."},
    )
    margin = fields.Integer(
        load_default=4,
        validate=validate.Range(min=0, max=16),
        metadata={"description": "Quiet zone around the code in modules, 0 to 16."},
    )


class ExportArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    format = fields.String(
        load_default="csv",
        validate=validate.OneOf(["csv", "json"]),
        metadata={"description": "csv (a header row, then one link per row) or json (an array)."},
    )


class ImportArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    on_conflict = fields.String(
        load_default="skip",
        validate=validate.OneOf(["skip", "update"]),
        metadata={
            "description": "A row whose slug is already one of your links: skip it, or update it."
        },
    )
    format = fields.String(
        load_default="auto",
        validate=validate.OneOf(["auto", "csv", "json", "ndjson"]),
        metadata={"description": "auto: from the Content-Type (or the file name)."},
    )


class ImportRowErrorSchema(ma.Schema):
    row = fields.Integer(metadata={"description": "1 = the first data row (or array item)."})
    slug = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ImportReportSchema(ma.Schema):
    format = fields.String(metadata={"description": "linkfleet, shlink or yourls."})
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    skipped = fields.Integer()
    failed = fields.Integer()
    complete = fields.Boolean(
        metadata={"description": "False when the file broke off; the rows before were imported."}
    )
    ignored_columns = fields.List(fields.String())
    errors = fields.List(fields.Nested(ImportRowErrorSchema))
    errors_truncated = fields.Boolean(
        metadata={"description": "True when more rows failed than are listed."}
    )
    seconds = fields.Float()


def _orphan_types() -> tuple[str, ...]:
    from ..analytics.orphans import TYPES

    return TYPES


class StatsArgsSchema(ma.Schema):
    """The period of ``GET /links/<slug>/stats``, checked by the analytics package."""

    class Meta:
        unknown = ma.EXCLUDE

    start = fields.String(
        data_key="from",
        validate=validate.Length(max=40),
        metadata={
            "description": "Start: a date (2026-05-01) or ISO 8601 time; default 7 days ago."
        },
    )
    end = fields.String(
        data_key="to",
        validate=validate.Length(max=40),
        metadata={"description": "End: a date (inclusive) or ISO 8601 time; default now."},
    )
    granularity = fields.String(
        validate=validate.OneOf(["hour", "day"]),
        metadata={"description": "hour or day (default: hour up to 2 days, else day)."},
    )


class _CountsSchema(ma.Schema):
    visits = fields.Integer(required=True)
    humans = fields.Integer(required=True)
    bots = fields.Integer(required=True)


class _TotalsSchema(_CountsSchema):
    unique_visitors = fields.Integer(required=True)


class _PointSchema(_CountsSchema):
    start = fields.String(required=True, metadata={"description": "Bucket start (UTC)."})


class _TopSchema(_CountsSchema):
    value = fields.String(required=True, metadata={"description": "Empty: none or unknown."})


class _TopListsSchema(ma.Schema):
    referrers = fields.List(fields.Nested(_TopSchema), required=True)
    browsers = fields.List(fields.Nested(_TopSchema), required=True)
    os = fields.List(fields.Nested(_TopSchema), required=True)
    devices = fields.List(fields.Nested(_TopSchema), required=True)
    countries = fields.List(fields.Nested(_TopSchema), required=True)


class StatsSchema(ma.Schema):
    """A link's statistics (see ``service.analytics.stats.link_stats``)."""

    slug = fields.String(required=True)
    start = fields.String(data_key="from", required=True)
    end = fields.String(data_key="to", required=True)
    granularity = fields.String(required=True)
    totals = fields.Nested(_TotalsSchema, required=True)
    series = fields.List(fields.Nested(_PointSchema), required=True)
    top = fields.Nested(_TopListsSchema, required=True)


class OrphanArgsSchema(StatsArgsSchema):
    """The period and type of ``GET /visits/orphan``."""

    type = fields.String(
        validate=validate.OneOf(_orphan_types()),
        metadata={"description": "Only visits of this type (default: every type)."},
    )


class _OrphanTopListsSchema(ma.Schema):
    hosts = fields.List(fields.Nested(_TopSchema), required=True)
    referrers = fields.List(fields.Nested(_TopSchema), required=True)


class OrphanStatsSchema(ma.Schema):
    """Orphan visits (see ``service.analytics.orphan_stats.orphan_report``)."""

    start = fields.String(data_key="from", required=True)
    end = fields.String(data_key="to", required=True)
    granularity = fields.String(required=True)
    type = fields.String(allow_none=True, required=True)
    totals = fields.Nested(_CountsSchema, required=True)
    types = fields.List(fields.Nested(_TopSchema), required=True)
    series = fields.List(fields.Nested(_PointSchema), required=True)
    top = fields.Nested(_OrphanTopListsSchema, required=True)


# -- webhooks -------------------------------------------------------------------------------


def _webhook_events() -> tuple[str, ...]:
    from ..webhooks.models import EVENTS

    return EVENTS


_EVENT_NAME = fields.String(validate=validate.OneOf(_webhook_events()))


class WebhookCreateSchema(StrictSchema):
    url = fields.String(
        required=True,
        validate=validate.Length(max=2048),
        metadata={"description": "An https:// URL on a public address."},
    )
    events = fields.List(
        _EVENT_NAME,
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "What to send: " + ", ".join(_webhook_events()) + "."},
    )


class WebhookUpdateSchema(StrictSchema):
    url = fields.String(validate=validate.Length(max=2048))
    events = fields.List(_EVENT_NAME, validate=validate.Length(min=1))
    enabled = fields.Boolean(
        metadata={"description": "false stops deliveries; true resumes them (and resets failures)."}
    )


class WebhookSchema(ma.Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True, attribute="event_list")
    enabled = fields.Boolean(required=True)
    disabled_reason = fields.String(
        required=True, metadata={"description": "Why the worker disabled it; empty otherwise."}
    )
    consecutive_failures = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(
        required=True,
        metadata={"description": "The signing secret; only ever shown in this response."},
    )


class WebhookDeliverySchema(ma.Schema):
    id = fields.Integer(required=True)
    event = fields.String(required=True)
    event_id = fields.String(required=True)
    status = fields.String(
        required=True, validate=validate.OneOf(("pending", "delivered", "failed"))
    )
    attempts = fields.Integer(required=True)
    response_code = fields.Integer(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    error = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    next_attempt_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)
