"""A link's fields, each declared once: its type, its check, who may write it, how it is shown.

Everything that handles a link's fields derives from :data:`FIELDS` instead of naming them:
the write services (:mod:`.services`: what ``create_link``/``update_link`` accept and how each
value is checked), the API's schemas (in and out), the importer's and exporter's columns, the
dashboard's form, its change detection and its detail page, and the presenters. A new field
is its model column, its migration and one entry here (usually one :func:`text` call).

A field is written through one of three doors, each a flag of the declaration: ``create``
(``create_link``, ``POST /links``, an import row), ``update`` (``update_link``, ``PATCH``,
an import with ``on_conflict=update``) and ``api`` (whether the API and the importer accept it
at all; ``disabled`` is a dashboard switch only). Fields without any door are read-only:
computed (``short_url``, ``visits``) or set by the service (``created_at``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from flask import current_app, has_app_context
from marshmallow import fields as mf
from marshmallow import validate
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..extensions.types import utcnow
from .errors import ValidationError
from .models import DEFAULT_REDIRECT_TYPE, REDIRECT_TYPES
from .rules import CONDITION_TYPES, MAX_CONDITIONS, MAX_RULES, check_rules
from .slugs import MAX_SLUG_LENGTH, SLUG_PATTERN, reserved_slugs, slug_problem
from .validation import MAX_URL_LENGTH, service_hosts, validate_target_url

if TYPE_CHECKING:
    from wtforms import Field as FormField

    from .models import Link

MAX_TITLE_LENGTH = 200
MAX_TAG_LENGTH = 64
MAX_TAGS = 20
MAX_PASSWORD_LENGTH = 1024
MAX_VISITS_LIMIT = 2**31 - 1
#: Control characters other than whitespace; PostgreSQL cannot even store NUL in text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

REDIRECT_CHOICES = [
    SelectChoice(302, "302 temporary (default)"),
    SelectChoice(301, "301 permanent (cached)"),
    SelectChoice(307, "307 temporary, same method"),
    SelectChoice(308, "308 permanent, same method"),
]


@dataclass(frozen=True)
class CheckContext:
    """What some checks need from the app, computed once per request or per import."""

    own_hosts: frozenset[str]
    reserved: frozenset[str]
    #: The added domains' ids by host, and ``PUBLIC_URL``'s host (the default domain's name).
    domains: Mapping[str, int] = field(default_factory=dict)
    public_host: str | None = None

    @classmethod
    def current(cls) -> CheckContext:
        """The hosts this service answers on, the reserved slugs and the domains, as of now."""
        if not has_app_context():
            return cls(own_hosts=frozenset(service_hosts()), reserved=frozenset())
        from ..domains.hosts import url_host
        from .cache import link_cache

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        added = link_cache.domain_map(app).domains or {}
        return cls(
            own_hosts=frozenset(service_hosts()) | frozenset(added),
            reserved=reserved_slugs(),
            domains={host: record.id for host, record in added.items() if record.id is not None},
            public_host=url_host(str(app.config.get("PUBLIC_URL") or "")),
        )

    @property
    def hosts(self) -> dict[int, str]:
        """The added domains' hosts by id."""
        return {domain_id: host for host, domain_id in self.domains.items()}


Check = Callable[[Any, CheckContext], Any]
#: :attr:`LinkField.patch_null` of a field that a ``null`` in a PATCH leaves alone.
KEEP = object()


@dataclass(frozen=True)
class LinkField:
    """One field of a link, as every layer sees it.

    ``check`` turns a submitted value into the stored one or raises :class:`ValidationError`
    ``{name: message}``. ``api_in(for_update)`` is the API's marshmallow input field (shape
    and type only; ``check`` still runs in the service), ``api_out()`` its output field and
    ``show(row)`` the value shown (``row`` is a :class:`~.queries.LinkRow`). ``form()`` is the
    dashboard's WTForms field, ``from_form`` turns its data into a service value and
    ``current`` reads the link's value in the same terms (to send only what changed).
    """

    name: str
    label: str
    check: Check | None = None
    create: bool = False
    update: bool = False
    api: bool = False
    #: The value ``create_link`` stores when the field is not given.
    default: Any = None
    #: What ``null`` in a PATCH means: this value for ``update_link``, or :data:`KEEP`.
    patch_null: Any = None
    #: Stored in the ``links`` column of the same name (``slug``, ``tags`` and ``password``
    #: are stored by the service's own code).
    column: bool = False
    api_in: Callable[[bool], mf.Field[Any]] | None = None
    api_out: Callable[[], mf.Field[Any]] | None = None
    show: Callable[[Any], Any] | None = None
    form: Callable[[], FormField] | None = None
    #: ``"main"``, ``"more"`` (the form's "More options"), ``"edit"`` (only when editing) or
    #: ``"rules"`` (the rule editor, a partial of its own).
    form_section: str = "main"
    #: Keyword arguments for the field macro (placeholder, inputmode, ...).
    form_attrs: Mapping[str, Any] = field(default_factory=dict)
    #: A wide field takes a whole row of the form; others are laid out two per row.
    wide: bool = False
    from_form: Callable[[Any], Any] = lambda value: value
    current: Callable[[Link], Any] | None = None
    #: The link's value as the form field shows it, when it differs from ``current``.
    to_form: Callable[[Link], Any] | None = None
    #: Lower comes first on the form (else the declaration's order).
    form_order: int = 0
    #: Normalised CSV headings the importer reads into this field (other tools' names too).
    csv_headings: tuple[str, ...] = ()
    #: A CSV cell (stripped text) as the JSON value the API schema expects.
    from_csv: Callable[[str], Any] = lambda cell: cell
    #: The shown (dumped) value as the export's CSV cell, when the generic one will not do
    #: (lists of text are joined with commas, None is empty).
    to_csv: Callable[[Any], str] | None = None
    #: In the ``q`` text search of the listings.
    searchable: bool = False
    #: How the detail page shows it: ``text``, ``url``, ``tags``, ``time``, ``limit``,
    #: ``yes_no``, ``flag`` (only when true), or None (not shown there).
    detail: str | None = None
    detail_label: str = ""

    @property
    def writable(self) -> bool:
        return self.create or self.update


# -- checks -------------------------------------------------------------------------------------


def _as_int(name: str, value: Any, message: str) -> int:
    if isinstance(value, bool):
        raise ValidationError({name: message})
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValidationError({name: message})


def _check_url(value: Any, context: CheckContext) -> str:
    return validate_target_url(value, own_hosts=context.own_hosts)


def _check_slug(value: Any, context: CheckContext) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError({"slug": "The short name must be text."})
    slug = value.strip()
    if not slug:
        return None
    if not SLUG_PATTERN.fullmatch(slug) or slug.lower() in context.reserved:
        raise ValidationError({"slug": slug_problem(slug) or f"“{slug}” is reserved."})
    return slug


def _check_domain(value: Any, context: CheckContext) -> int | None:
    """An added domain's host → its id; None, empty or the default host → None."""
    if value is None or value == "":
        return None
    from ..domains.hosts import normalise_host

    host = normalise_host(value, field="domain")
    if host == context.public_host:
        return None
    if host not in context.domains:
        known = ", ".join(sorted(context.domains)) or "none yet"
        raise ValidationError(
            {"domain": f"“{host}” is not a domain of this service (added domains: {known})."}
        )
    return context.domains[host]


def text_check(name: str, label: str, max_length: int) -> Check:
    """One line of text: whitespace runs collapsed, no control characters, bounded length."""

    def check(value: Any, _context: CheckContext) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValidationError({name: f"The {label.lower()} must be text."})
        if CONTROL_CHARACTERS.search(value):
            raise ValidationError(
                {name: f"The {label.lower()} must not contain control characters."}
            )
        text = " ".join(value.split())
        if len(text) > max_length:
            raise ValidationError({name: f"Use at most {max_length} characters."})
        return text

    return check


def normalise_tags(tags: Any) -> list[str]:
    """Lower-cased, trimmed, de-duplicated tag names in their first order.

    A single string is split on commas (what a form field gives); a tag longer than
    :data:`MAX_TAG_LENGTH`, or more than :data:`MAX_TAGS` tags, is a :class:`ValidationError`.
    """
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    names: list[str] = []
    for raw in tags:
        if not isinstance(raw, str):
            raise ValidationError({"tags": "Tags must be text."})
        if CONTROL_CHARACTERS.search(raw):
            raise ValidationError({"tags": "Tags must not contain control characters."})
        name = " ".join(raw.split()).lower()
        if not name or name in names:
            continue
        if len(name) > MAX_TAG_LENGTH:
            raise ValidationError({"tags": f"A tag may have at most {MAX_TAG_LENGTH} characters."})
        names.append(name)
    if len(names) > MAX_TAGS:
        raise ValidationError({"tags": f"Use at most {MAX_TAGS} tags."})
    return names


def _check_redirect_type(value: Any, _context: CheckContext) -> int:
    allowed = ", ".join(str(code) for code in REDIRECT_TYPES)
    message = f"Choose one of {allowed}."
    code = _as_int("redirect_type", value, message)
    if code not in REDIRECT_TYPES:
        raise ValidationError({"redirect_type": message})
    return code


def _check_expires_at(value: Any, _context: CheckContext) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, datetime):
        raise ValidationError({"expires_at": "Give the expiry as a date and time."})
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if moment <= utcnow():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    return moment


def _check_max_visits(value: Any, _context: CheckContext) -> int | None:
    if value is None or value == "":
        return None
    message = f"Give a whole number from 1 to {MAX_VISITS_LIMIT}."
    limit = _as_int("max_visits", value, message)
    if not 1 <= limit <= MAX_VISITS_LIMIT:
        raise ValidationError({"max_visits": message})
    return limit


def _check_password(value: Any, _context: CheckContext) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError({"password": "The password must be text."})  # nosec B105  # a message
    if len(value) > MAX_PASSWORD_LENGTH:
        raise ValidationError({"password": f"Use at most {MAX_PASSWORD_LENGTH} characters."})
    return value


def _check_rules(value: Any, context: CheckContext) -> list[dict[str, Any]]:
    return check_rules(value, own_hosts=context.own_hosts)


def flag_check(name: str) -> Check:
    """True or false, nothing else (a CSV cell was read as one by :func:`flag_cell`)."""

    def check(value: Any, _context: CheckContext) -> bool:
        if not isinstance(value, bool):
            raise ValidationError({name: "Give true or false."})
        return value

    return check


# -- API field helpers --------------------------------------------------------------------------


def printable(value: str) -> None:
    """Refuse control characters (NUL above all: PostgreSQL cannot store it in text)."""
    if CONTROL_CHARACTERS.search(value):
        raise ma.ValidationError("Must not contain control characters.")


def no_nul(value: str) -> None:
    if "\x00" in value:
        raise ma.ValidationError("Must not contain NUL characters.")


def safe_target(value: str) -> None:
    """The service's target check in the schema too, so that a request hears of a bad URL
    together with its other field errors (the service checks again when it writes)."""
    try:
        validate_target_url(value, own_hosts=service_hosts())
    except ValidationError as error:
        raise ma.ValidationError(list(error.errors.values())) from None


def timestamp_out(description: str, *, required: bool = False) -> Callable[[], mf.Field[Any]]:
    return lambda: mf.AwareDateTime(
        format="iso",
        default_timezone=UTC,
        required=required,
        allow_none=not required,
        metadata={"description": description},
    )


class StrictBoolean(mf.Boolean):
    """JSON's true and false only: marshmallow's Boolean also takes "yes", 1, "on" ..."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class RuleConditionSchema(ma.Schema):
    """One condition of a redirect rule (shapes only; :mod:`.rules` checks the values)."""

    class Meta:
        unknown = ma.RAISE

    type = mf.String(
        required=True,
        validate=validate.OneOf(CONDITION_TYPES),
        metadata={"description": "What the condition compares."},
    )
    value = mf.String(
        required=True,
        validate=[validate.Length(max=512), printable],
        metadata={
            "description": "ios|android|desktop, a browser family, a language tag, an ISO "
            "country code, the query parameter's value, an ISO 8601 UTC time (before: the "
            "request is earlier; after: at or later) or a CIDR network."
        },
    )
    name = mf.String(
        validate=[validate.Length(min=1, max=128), printable],
        metadata={"description": "The query parameter's name (query conditions only)."},
    )


class RuleSchema(ma.Schema):
    """A redirect rule: when every condition matches, the visitor goes to ``url``."""

    class Meta:
        unknown = ma.RAISE

    url = mf.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_URL_LENGTH),
        metadata={"description": "http(s) target of this rule."},
    )
    conditions = mf.List(
        mf.Nested(RuleConditionSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_CONDITIONS),
        metadata={"description": f"1 to {MAX_CONDITIONS} conditions, all must match."},
    )


def _rules_from_form(value: Any) -> Any:
    """The editor's JSON; anything unreadable goes on as text for the check to refuse."""
    if not value:
        return []
    try:
        return json.loads(value)
    except ValueError:
        return value


def _rules_cell(cell: str) -> Any:
    """A CSV cell of rules: their JSON (what the export writes), empty for none."""
    if not cell:
        return []
    try:
        return json.loads(cell)
    except ValueError:
        return cell  # the schema reports "Not a valid list."


def _optional_int_cell(cell: str) -> Any:
    return int(cell) if _INTEGER.fullmatch(cell) else (cell or None)


#: An integer cell; ``str.isdigit`` would also pass superscripts ("²"), which ``int`` refuses.
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _current_expiry(link: Link) -> datetime | None:
    """The expiry at the form's resolution (minutes), so an untouched field is no change."""
    return link.expires_at.replace(second=0, microsecond=0) if link.expires_at else None


def as_utc(value: datetime | None) -> datetime | None:
    """The form's naive datetime-local value, read as UTC."""
    return value.replace(tzinfo=UTC) if value is not None else None


def parse_tags(raw: str | None) -> list[str]:
    """``"docs, Python ,docs"`` → ``["docs", "Python"]``: order kept, no duplicates or blanks."""
    seen: dict[str, None] = {}
    for part in (raw or "").split(","):
        name = part.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


_TRUE_CELLS = frozenset({"true", "1", "yes"})
_FALSE_CELLS = frozenset({"false", "0", "no", ""})


def flag_cell(cell: str) -> Any:
    """A CSV cell as a boolean (``true``/``false``, ``1``/``0``, ``yes``/``no``; empty is
    false); anything else goes on as text for the schema to refuse."""
    lowered = cell.lower()
    if lowered in _TRUE_CELLS:
        return True
    if lowered in _FALSE_CELLS:
        return False
    return cell


def flag(name: str, label: str, *, description: str, hint: str) -> LinkField:
    """A switch of the link, off unless set: written everywhere, shown everywhere."""
    return LinkField(
        name=name,
        label=label,
        check=flag_check(name),
        create=True,
        update=True,
        api=True,
        default=False,
        column=True,
        api_in=lambda _update: StrictBoolean(metadata={"description": description}),
        api_out=lambda: mf.Boolean(required=True, metadata={"description": description}),
        show=lambda row: getattr(row.link, name),
        form=lambda: BooleanField(label, description=hint),
        form_section="more",
        from_form=bool,
        current=lambda link: getattr(link, name),
        csv_headings=(name.replace("_", ""),),
        from_csv=flag_cell,
        detail="yes_no",
    )


def text(
    name: str,
    label: str,
    *,
    max_length: int,
    description: str = "",
    searchable: bool = False,
    detail: str | None = "text",
) -> LinkField:
    """A plain text field: one line, written everywhere, shown everywhere, empty by default."""
    return LinkField(
        name=name,
        label=label,
        check=text_check(name, label, max_length),
        create=True,
        update=True,
        api=True,
        default="",
        column=True,
        api_in=lambda _update: mf.String(
            allow_none=True,
            validate=[validate.Length(max=max_length), printable],
            metadata={"description": description} if description else {},
        ),
        api_out=lambda: mf.String(required=True),
        show=lambda row: getattr(row.link, name),
        form=lambda: StringField(label, validators=[Optional(), Length(max=max_length)]),
        from_form=lambda value: (value or "").strip(),
        current=lambda link: getattr(link, name),
        csv_headings=(name.replace("_", ""),),
        searchable=searchable,
        detail=detail,
    )


FIELDS: tuple[LinkField, ...] = (
    LinkField(
        name="slug",
        label="Short name",
        check=_check_slug,
        patch_null=KEEP,
        create=True,
        update=True,
        api=True,
        api_in=lambda update: mf.String(
            allow_none=True,
            validate=validate.Regexp(
                rf"^[A-Za-z0-9_-]{{1,{MAX_SLUG_LENGTH}}}$",
                error="Use 1 to 64 of A-Z a-z 0-9 - _.",
            ),
            metadata={
                "description": "Short name; omitted or null: a random one"
                + (" (PATCH: null keeps it)." if update else ".")
            },
        ),
        api_out=lambda: mf.String(required=True, metadata={"description": "The short name."}),
        show=lambda row: row.link.slug,
        form=lambda: StringField(
            "Short name",
            validators=[Optional(), Length(max=MAX_SLUG_LENGTH)],
            description="Letters, digits, - and _. Leave empty for a random one.",
        ),
        form_attrs={"autocomplete": "off", "spellcheck": "false"},
        from_form=lambda value: (value or "").strip() or None,
        current=lambda link: link.slug,
        csv_headings=("slug", "shortcode", "keyword", "source"),
        from_csv=lambda cell: cell or None,
        searchable=True,
    ),
    LinkField(
        name="short_url",
        label="Short URL",
        api_out=lambda: mf.String(required=True, metadata={"description": "The full short URL."}),
        show=lambda row: row.short_url,
    ),
    LinkField(
        name="url",
        label="Target URL",
        check=_check_url,
        create=True,
        update=True,
        api=True,
        column=True,
        api_in=lambda update: mf.String(
            required=not update,
            validate=[validate.Length(min=1, max=MAX_URL_LENGTH), safe_target],
            metadata={"description": "http(s) URL the short link redirects to."},
        ),
        api_out=lambda: mf.String(required=True, metadata={"description": "Where the link leads."}),
        show=lambda row: row.link.url,
        form=lambda: URLField(
            "Target URL",
            validators=[DataRequired(), Length(max=MAX_URL_LENGTH)],
            description="http or https.",
        ),
        form_attrs={"placeholder": "https://example.com/a/long/path", "inputmode": "url"},
        form_order=-1,
        wide=True,
        from_form=lambda value: (value or "").strip(),
        current=lambda link: link.url,
        csv_headings=("url", "longurl", "target"),
        searchable=True,
        detail="url",
        detail_label="Target",
    ),
    LinkField(
        name="domain",
        label="Domain",
        check=_check_domain,
        create=True,
        update=True,
        api=True,
        api_in=lambda update: mf.String(
            allow_none=True,
            validate=[validate.Length(max=300), printable],
            metadata={
                "description": "Host of an added domain (``linkfleet domains``); omitted, null "
                "or empty: the default domain"
                + (" (PATCH: null moves the link there)." if update else ".")
            },
        ),
        api_out=lambda: mf.String(
            allow_none=True,
            metadata={"description": "Host of the link's added domain; null: the default one."},
        ),
        show=lambda row: row.link.host,
        form=lambda: StringField(
            "Domain",
            validators=[Optional(), Length(max=300)],
            description="Optional. An added domain's host; empty for the default domain.",
        ),
        form_section="more",
        form_attrs={"autocomplete": "off", "spellcheck": "false"},
        from_form=lambda value: (value or "").strip() or None,
        current=lambda link: link.host,
        csv_headings=("domain",),
        from_csv=lambda cell: cell or None,
        detail="text",
    ),
    # The detail page shows the title as its heading.
    text("title", "Title", max_length=MAX_TITLE_LENGTH, searchable=True, detail=None),
    LinkField(
        name="tags",
        label="Tags",
        check=lambda value, _context: normalise_tags(value),
        create=True,
        update=True,
        api=True,
        default=(),
        api_in=lambda _update: mf.List(
            mf.String(validate=[validate.Length(min=1, max=MAX_TAG_LENGTH), printable]),
            allow_none=True,
            validate=validate.Length(max=MAX_TAGS),
            metadata={"description": "Tag names (lower-cased, de-duplicated)."},
        ),
        api_out=lambda: mf.List(mf.String(), required=True),
        show=lambda row: [tag.name for tag in row.link.tags],
        form=lambda: StringField(
            "Tags", validators=[Optional()], description="Separated by commas."
        ),
        form_attrs={"placeholder": "docs, campaign"},
        wide=True,
        from_form=parse_tags,
        current=lambda link: [tag.name for tag in link.tags],
        to_form=lambda link: ", ".join(tag.name for tag in link.tags),
        csv_headings=("tags",),
        from_csv=lambda cell: [tag for tag in cell.split(",") if tag.strip()],
        detail="tags",
    ),
    LinkField(
        name="redirect_type",
        label="Redirect type",
        check=_check_redirect_type,
        create=True,
        update=True,
        api=True,
        default=DEFAULT_REDIRECT_TYPE,
        column=True,
        api_in=lambda _update: mf.Integer(
            strict=True,
            validate=validate.OneOf(REDIRECT_TYPES),
            metadata={"description": "HTTP status of the redirect (default 302)."},
        ),
        api_out=lambda: mf.Integer(required=True, metadata={"enum": list(REDIRECT_TYPES)}),
        show=lambda row: row.link.redirect_type,
        form=lambda: SelectField(
            "Redirect type", choices=REDIRECT_CHOICES, coerce=int, default=DEFAULT_REDIRECT_TYPE
        ),
        form_section="more",
        current=lambda link: link.redirect_type,
        csv_headings=("redirecttype",),
        from_csv=lambda cell: _optional_int_cell(cell) if cell else DEFAULT_REDIRECT_TYPE,
        detail="text",
        detail_label="Redirect",
    ),
    LinkField(
        name="expires_at",
        label="Expires at (UTC)",
        check=_check_expires_at,
        create=True,
        update=True,
        api=True,
        column=True,
        api_in=lambda _update: mf.AwareDateTime(
            format="iso",
            default_timezone=UTC,
            allow_none=True,
            metadata={"description": "Expiry (ISO 8601; no offset means UTC), null for none."},
        ),
        api_out=timestamp_out("When the link stops working (UTC), or null."),
        show=lambda row: row.link.expires_at,
        form=lambda: DateTimeLocalField(
            "Expires at (UTC)",
            validators=[Optional()],
            format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
            description="Optional. After this moment the link answers 410 Gone.",
        ),
        form_section="more",
        from_form=as_utc,
        current=_current_expiry,
        to_form=lambda link: link.expires_at.replace(tzinfo=None) if link.expires_at else None,
        csv_headings=("expiresat",),
        from_csv=lambda cell: cell or None,
        detail="time",
        detail_label="Expires",
    ),
    LinkField(
        name="max_visits",
        label="Visit limit",
        check=_check_max_visits,
        create=True,
        update=True,
        api=True,
        column=True,
        api_in=lambda _update: mf.Integer(
            strict=True,
            allow_none=True,
            validate=validate.Range(min=1, max=MAX_VISITS_LIMIT),
            metadata={"description": "Visit limit, null for none."},
        ),
        api_out=lambda: mf.Integer(
            allow_none=True, metadata={"description": "Visit limit, or null for none."}
        ),
        show=lambda row: row.link.max_visits,
        form=lambda: IntegerField(
            "Visit limit",
            validators=[
                Optional(),
                NumberRange(min=1, message="Use a whole number of at least 1."),
            ],
            description="Optional. Once reached, the link answers 410 Gone.",
        ),
        form_section="more",
        form_attrs={"min": 1, "inputmode": "numeric"},
        current=lambda link: link.max_visits,
        csv_headings=("maxvisits",),
        from_csv=_optional_int_cell,
        detail="limit",
    ),
    LinkField(
        name="password",
        label="Password",
        check=_check_password,
        patch_null="",  # nosec B106  # empty: remove the password
        create=True,
        update=True,
        api=True,
        api_in=lambda update: mf.String(
            allow_none=True,
            validate=[validate.Length(max=MAX_PASSWORD_LENGTH), no_nul],
            metadata={
                "description": "Visitors must enter it"
                + ("; null or empty removes it." if update else "; empty means none.")
            },
        ),
        form=lambda: PasswordField(
            "Password",
            validators=[Optional(), Length(max=MAX_PASSWORD_LENGTH)],
            description="Optional. Visitors must enter it before they are redirected.",
        ),
        form_section="more",
        form_attrs={"autocomplete": "new-password"},
        from_form=lambda value: value or None,
        csv_headings=("password",),
        from_csv=lambda cell: cell or None,
    ),
    LinkField(
        name="rules",
        label="Redirect rules",
        check=_check_rules,
        create=True,
        update=True,
        api=True,
        column=True,
        api_in=lambda _update: mf.List(
            mf.Nested(RuleSchema),
            allow_none=True,
            validate=validate.Length(max=MAX_RULES),
            metadata={
                "description": f"Up to {MAX_RULES} rules, tried in order: the first whose "
                "conditions all match the request sends the visitor to its url, else the "
                "link's url. Null or [] removes them."
            },
        ),
        api_out=lambda: mf.List(mf.Nested(RuleSchema), required=True),
        show=lambda row: row.link.rules or [],
        form=lambda: HiddenField("Redirect rules"),
        form_section="rules",
        from_form=_rules_from_form,
        current=lambda link: link.rules or [],
        to_form=lambda link: json.dumps(link.rules or []),
        csv_headings=("rules",),
        from_csv=_rules_cell,
        to_csv=lambda value: json.dumps(value, ensure_ascii=False) if value else "",
    ),
    flag(
        "forward_query",
        "Forward the query string",
        description="The redirect appends the visit's query string to the target (a "
        "parameter the target also has takes the visit's value). Default false.",
        hint="A visit to the short URL with ?utm_source=x goes to the target with it.",
    ),
    flag(
        "crawlable",
        "Let search engines crawl it",
        description="The domain's /robots.txt allows robots to follow this short link "
        "(every other one is disallowed). Default false.",
        hint="Listed as allowed in this domain's robots.txt.",
    ),
    LinkField(
        name="visits",
        label="Clicks",
        api_out=lambda: mf.Integer(
            allow_none=True,
            metadata={
                "description": "Clicks counted so far (by the analytics worker, seconds behind)."
            },
        ),
        show=lambda row: row.clicks,
    ),
    LinkField(
        name="has_password",
        label="Password",
        api_out=lambda: mf.Boolean(required=True),
        show=lambda row: row.link.password_hash is not None,
        detail="yes_no",
    ),
    LinkField(
        name="disabled",
        label="Disable this link (it stops redirecting until enabled again)",
        check=flag_check("disabled"),
        update=True,
        column=True,
        form=lambda: BooleanField("Disable this link (it stops redirecting until enabled again)"),
        form_section="edit",
        from_form=bool,
        current=lambda link: link.disabled,
        detail="flag",
        detail_label="Status",
    ),
    LinkField(
        name="created_at",
        label="Created",
        api_out=timestamp_out("Creation time (UTC).", required=True),
        show=lambda row: row.link.created_at,
    ),
    LinkField(
        name="updated_at",
        label="Updated",
        api_out=timestamp_out("Last change (UTC).", required=True),
        show=lambda row: row.link.updated_at,
    ),
)

BY_NAME: dict[str, LinkField] = {spec.name: spec for spec in FIELDS}
#: What :func:`~.services.create_link` and :func:`~.services.update_link` accept.
CREATABLE = tuple(spec.name for spec in FIELDS if spec.create)
UPDATABLE = frozenset(spec.name for spec in FIELDS if spec.update)
#: What the API and the importer accept.
API_WRITABLE = tuple(spec.name for spec in FIELDS if spec.api)
#: What the API shows, in order (also the export's CSV columns).
SHOWN = tuple(spec.name for spec in FIELDS if spec.show and spec.api_out)
#: Stored as the ``links`` column of the same name.
COLUMNS = tuple(spec.name for spec in FIELDS if spec.column)
SEARCHABLE = tuple(spec.name for spec in FIELDS if spec.searchable)
#: Fields on the dashboard's form, in order.
FORM_FIELDS = tuple(sorted((spec for spec in FIELDS if spec.form), key=lambda s: s.form_order))


def check(values: Mapping[str, Any], context: CheckContext | None = None) -> dict[str, Any]:
    """Check and normalise ``values``; every problem at once as :class:`ValidationError`."""
    context = context or CheckContext.current()
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        checker = BY_NAME[name].check
        if checker is None:
            raise TypeError(f"{name} is read-only")
        try:
            cleaned[name] = checker(value, context)
        except ValidationError as error:
            errors.update(error.errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


__all__ = [
    "API_WRITABLE",
    "BY_NAME",
    "COLUMNS",
    "CREATABLE",
    "FIELDS",
    "FORM_FIELDS",
    "KEEP",
    "SEARCHABLE",
    "SHOWN",
    "UPDATABLE",
    "CheckContext",
    "LinkField",
    "check",
    "flag",
    "normalise_tags",
    "parse_tags",
    "text",
]
