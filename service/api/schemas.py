"""marshmallow schemas of the API: what comes in (strict: unknown fields are errors) and out.

The schemas check shapes and types; the links service checks meaning (a safe target URL, a
free and unreserved slug, an expiry in the future) and reports per field like the schemas do.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ..links.models import REDIRECT_TYPES
from ..links.services import (
    MAX_PASSWORD_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TITLE_LENGTH,
)
from ..links.services import ValidationError as LinkValidationError
from ..links.validation import service_hosts, validate_target_url

MAX_URL_LENGTH = 2048
MAX_SLUG_LENGTH = 64
MAX_VISITS = 2**31 - 1
SLUG_REGEX = r"^[A-Za-z0-9_-]{1,64}$"
MAX_QUERY_LENGTH = 200


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(value: str) -> None:
    """Refuse control characters (NUL above all: PostgreSQL cannot store it in text)."""
    if _CONTROL.search(value):
        raise ma.ValidationError("Must not contain control characters.")


def no_nul(value: str) -> None:
    if "\x00" in value:
        raise ma.ValidationError("Must not contain NUL characters.")


class StrictSchema(ma.Schema):
    """Unknown fields are an error, never silently dropped (a typo must not go unnoticed)."""

    class Meta:
        unknown = ma.RAISE


def _timestamp(description: str, *, required: bool = False) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        format="iso",
        default_timezone=UTC,
        required=required,
        allow_none=not required,
        metadata={"description": description},
    )


class LinkSchema(ma.Schema):
    """A link as the API shows it."""

    slug = fields.String(required=True, metadata={"description": "The short name."})
    short_url = fields.String(required=True, metadata={"description": "The full short URL."})
    url = fields.String(required=True, metadata={"description": "Where the link leads."})
    title = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    redirect_type = fields.Integer(required=True, metadata={"enum": list(REDIRECT_TYPES)})
    expires_at = _timestamp("When the link stops working (UTC), or null.")
    max_visits = fields.Integer(
        allow_none=True, metadata={"description": "Visit limit, or null for none."}
    )
    visits = fields.Integer(
        allow_none=True,
        metadata={"description": "Visits counted against the limit; null if unavailable."},
    )
    has_password = fields.Boolean(required=True)
    created_at = _timestamp("Creation time (UTC).", required=True)
    updated_at = _timestamp("Last change (UTC).", required=True)


def safe_target(value: str) -> None:
    """The links service's target check, here too so that a request hears of a bad URL
    together with its other field errors (the service checks again when it writes)."""
    try:
        validate_target_url(value, own_hosts=service_hosts())
    except LinkValidationError as error:
        raise ma.ValidationError(list(error.errors.values())) from None


def _link_fields(*, for_update: bool, check_url: bool = True) -> dict[str, fields.Field[Any]]:
    """The writable fields; ``url`` is required on create only."""
    url_rules: list[Any] = [validate.Length(min=1, max=MAX_URL_LENGTH)]
    if check_url:
        url_rules.append(safe_target)
    return {
        "url": fields.String(
            required=not for_update,
            validate=url_rules,
            metadata={"description": "http(s) URL the short link redirects to."},
        ),
        "slug": fields.String(
            allow_none=True,
            validate=validate.Regexp(SLUG_REGEX, error="Use 1 to 64 of A-Z a-z 0-9 - _."),
            metadata={
                "description": "Short name; omitted or null: a random one"
                + (" (PATCH: null keeps it)." if for_update else ".")
            },
        ),
        "title": fields.String(
            allow_none=True, validate=[validate.Length(max=MAX_TITLE_LENGTH), printable]
        ),
        "tags": fields.List(
            fields.String(validate=[validate.Length(min=1, max=MAX_TAG_LENGTH), printable]),
            allow_none=True,
            validate=validate.Length(max=MAX_TAGS),
            metadata={"description": "Tag names (lower-cased, de-duplicated)."},
        ),
        "redirect_type": fields.Integer(
            strict=True,
            validate=validate.OneOf(REDIRECT_TYPES),
            metadata={"description": "HTTP status of the redirect (default 302)."},
        ),
        "expires_at": fields.AwareDateTime(
            format="iso",
            default_timezone=UTC,
            allow_none=True,
            metadata={"description": "Expiry (ISO 8601; no offset means UTC), null for none."},
        ),
        "max_visits": fields.Integer(
            strict=True,
            allow_none=True,
            validate=validate.Range(min=1, max=MAX_VISITS),
            metadata={"description": "Visit limit, null for none."},
        ),
        "password": fields.String(
            allow_none=True,
            validate=[validate.Length(max=MAX_PASSWORD_LENGTH), no_nul],
            metadata={
                "description": "Visitors must enter it"
                + ("; null or empty removes it." if for_update else "; empty means none.")
            },
        ),
    }


LinkCreateSchema = StrictSchema.from_dict(_link_fields(for_update=False), name="LinkCreate")
LinkUpdateSchema = StrictSchema.from_dict(_link_fields(for_update=True), name="LinkUpdate")
#: An import row: the create schema, the target URL left to the importer's own (single) check.
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
