"""Bulk import of links from CSV or JSON, streamed: memory stays flat however long the file.

Accepted inputs (the columns are matched case-insensitively, ignoring spaces and ``_``):

* **LinkFleet** — our export: CSV with ``slug, url, title, tags`` (comma-separated inside the
  cell), ``redirect_type, expires_at, max_visits`` (ISO 8601), optionally ``password``; or a
  JSON array / NDJSON of link objects as the API returns them. ``short_url``, ``visits``,
  ``has_password``, ``created_at`` and ``updated_at`` are read-only and ignored.
* **Shlink** — the web client's CSV export: ``createdAt, domain, shortCode, shortUrl,
  longUrl, title, tags, visits`` with tags separated by ``|`` (also the importer's
  ``Long URL``/``Short code`` headings).
* **YOURLS** — a CSV of its ``yourls_url`` table (``keyword, url, title, timestamp, ip,
  clicks``), as phpMyAdmin or the export plugins write it, or the Import/Export plugin's
  ``source, target, hits`` where the source is ``/keyword/``.

Rows are read one at a time, validated like the links service validates a form (target URL,
slug rules and reserved names, tags, limits), and written in batches of
``API_IMPORT_BATCH_SIZE`` rows, one transaction each. Import is idempotent by slug: a slug
that is already one of the owner's links is skipped (``on_conflict=skip``) or overwritten
(``on_conflict=update``); another owner's slug is a row error. Rows without a slug get a
random one, so importing those twice makes two links. The report lists failed rows with
per-field messages (the first :data:`MAX_REPORTED_ERRORS`).

Cache: each batch evicts its slugs from the link cache on every replica in one message
round (a "no such link" entry cached before the import must not hide a new link), rather
than sending ``link_created`` per row, which would start one timer per link.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import IO, Any

import marshmallow as ma
import redis
from flask import current_app
from sqlalchemy import delete, insert, select
from sqlalchemy import update as update_
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..extensions.types import utcnow
from ..links.cache import link_cache
from ..links.models import DEFAULT_REDIRECT_TYPE, Link, Tag, link_tags
from ..links.services import ValidationError, normalise_tags
from ..links.slugs import generate_slug, reserved_slugs, slug_problem
from ..links.validation import service_hosts, validate_target_url
from ..links.visits import VISITS_KEY
from ..passwords import hash_password
from .errors import flatten_errors
from .schemas import ImportRowSchema

#: The report lists at most this many failed rows (the counts cover all of them).
MAX_REPORTED_ERRORS = 1000
#: A single JSON item may not be larger than this.
MAX_JSON_ITEM = 1024 * 1024
_READ_CHUNK = 64 * 1024
_WRITE_ATTEMPTS = 3

# normalised CSV heading -> our field
_COLUMNS = {
    "slug": "slug",
    "shortcode": "slug",
    "keyword": "slug",
    "source": "slug",
    "url": "url",
    "longurl": "url",
    "target": "url",
    "title": "title",
    "tags": "tags",
    "redirecttype": "redirect_type",
    "expiresat": "expires_at",
    "maxvisits": "max_visits",
    "password": "password",  # nosec B105  # a column name, not a secret
}
# Columns other tools (and our own export) write that an import has no use for.
_READ_ONLY_COLUMNS = {
    "shorturl",
    "visits",
    "haspassword",
    "createdat",
    "updatedat",
    "datecreated",
    "domain",
    "timestamp",
    "ip",
    "clicks",
    "hits",
}
_READ_ONLY_KEYS = {"short_url", "visits", "has_password", "created_at", "updated_at"}
_WRITABLE = (
    "url",
    "slug",
    "title",
    "tags",
    "redirect_type",
    "expires_at",
    "max_visits",
    "password",
)


class ImportFormatError(ValueError):
    """The input cannot be read as the expected format (at ``row``, 0 = before any row)."""

    def __init__(self, message: str, row: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


@dataclass
class ImportReport:
    format: str = "linkfleet"
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    complete: bool = True
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False
    seconds: float = 0.0

    def fail(self, row: int, slug: str | None, errors: dict[str, list[str]]) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"row": row, "slug": slug, "errors": errors})
        else:
            self.errors_truncated = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "complete": self.complete,
            "ignored_columns": self.ignored_columns,
            "errors": self.errors,
            "errors_truncated": self.errors_truncated,
            "seconds": round(self.seconds, 3),
        }


# -- reading ------------------------------------------------------------------------------------


class _RawReader(io.RawIOBase):
    """Adapts anything with ``read(size)`` (a WSGI input) to :class:`io.RawIOBase`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def text_stream(binary: Any) -> IO[str]:
    """UTF-8 text (a BOM is dropped) over a binary stream, read in chunks."""
    if not isinstance(binary, io.IOBase):
        binary = _RawReader(binary)
    if isinstance(binary, io.RawIOBase):
        binary = io.BufferedReader(binary, buffer_size=_READ_CHUNK)
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


def _heading(name: str) -> str:
    return "".join(char for char in name.lower() if char.isalnum())


def csv_rows(text: IO[str], report: ImportReport) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number, raw fields)`` of a CSV file with a header row; sets ``report.format``."""
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as error:
        raise ImportFormatError(f"The file is not readable CSV: {error}") from None
    if not header:
        raise ImportFormatError("The file is empty; expected a header row, then one link per row.")
    headings = [_heading(name) for name in header]
    if "shortcode" in headings or "longurl" in headings:
        report.format = "shlink"
    elif "keyword" in headings or {"source", "target"} <= set(headings):
        report.format = "yourls"
    columns: list[tuple[int, str]] = []
    for index, heading in enumerate(headings):
        target = _COLUMNS.get(heading)
        if target is not None and all(existing != target for _, existing in columns):
            columns.append((index, target))
        elif heading not in _READ_ONLY_COLUMNS:
            report.ignored_columns.append(header[index])
    if not any(target == "url" for _, target in columns):
        raise ImportFormatError(
            "No URL column: expected url (LinkFleet), longUrl (Shlink) or url/target (YOURLS)."
        )
    tag_separator = "|" if report.format == "shlink" else ","
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as error:
            raise ImportFormatError(f"Unreadable CSV: {error}", number + 1) from None
        number += 1
        if not any(cell.strip() for cell in cells):
            number -= 1  # blank lines are not rows
            continue
        raw: dict[str, Any] = {}
        for index, target in columns:
            value = cells[index].strip() if index < len(cells) else ""
            raw[target] = value
        yield number, _from_csv(raw, tag_separator, yourls=report.format == "yourls")


#: An integer cell; ``str.isdigit`` would also pass superscripts ("²"), which ``int`` refuses.
_INTEGER = re.compile(r"-?[0-9]{1,18}")


def _from_csv(raw: dict[str, Any], tag_separator: str, *, yourls: bool) -> dict[str, Any]:
    """CSV cells as the JSON types the row schema expects (bad numbers stay strings: the
    schema then reports them per field)."""
    row: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "tags":
            row[name] = [tag for tag in value.split(tag_separator) if tag.strip()]
        elif name == "slug" and yourls:
            row[name] = value.strip("/") or None
        elif name in {"redirect_type", "max_visits"}:
            if value == "":
                row[name] = None if name == "max_visits" else DEFAULT_REDIRECT_TYPE
            else:
                row[name] = int(value) if _INTEGER.fullmatch(value) else value
        elif name in {"slug", "expires_at", "password"}:
            row[name] = value or None
        else:
            row[name] = value
    return row


def ndjson_rows(text: IO[str]) -> Iterator[tuple[int, Any]]:
    number = 0
    for line in text:
        if not line.strip():
            continue
        number += 1
        if len(line) > MAX_JSON_ITEM:
            raise ImportFormatError("A line is longer than 1 MiB.", number)
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            raise ImportFormatError(
                f"Line {number} is not valid JSON: {error.msg}", number
            ) from None


def json_array_rows(text: IO[str]) -> Iterator[tuple[int, Any]]:
    """The items of a JSON array, decoded one at a time from a growing buffer."""
    decoder = json.JSONDecoder()
    buffer, position, eof = "", 0, False

    def fill() -> bool:
        nonlocal buffer, position, eof
        chunk = text.read(_READ_CHUNK)
        if not chunk:
            eof = True
            return False
        buffer = buffer[position:] + chunk
        position = 0
        return True

    def skip_space() -> str:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position < len(buffer):
                return buffer[position]
            if not fill():
                return ""

    try:
        if skip_space() != "[":
            raise ImportFormatError("The JSON must be an array of links: [{...}, {...}].")
        position += 1
        number = 0
        if skip_space() == "]":
            return
        while True:
            skip_space()
            while True:
                try:
                    item, end = decoder.raw_decode(buffer, position)
                except json.JSONDecodeError as error:
                    if eof or len(buffer) - position > MAX_JSON_ITEM:
                        raise ImportFormatError(
                            f"Item {number + 1} is not valid JSON: {error.msg}", number + 1
                        ) from None
                    fill()
                    continue
                if end == len(buffer) and not eof:
                    fill()  # a number or literal might go on in the next chunk
                    continue
                break
            number += 1
            position = end
            yield number, item
            separator = skip_space()
            if separator == "]":
                position += 1
                if skip_space():
                    raise ImportFormatError("Unexpected data after the JSON array.", number)
                return
            if separator != ",":
                raise ImportFormatError(f"Expected , or ] after item {number}.", number)
            position += 1
    except UnicodeDecodeError as error:
        raise ImportFormatError(f"The file is not UTF-8: {error.reason}") from None


def json_rows(text: IO[str]) -> Iterator[tuple[int, Any]]:
    """Objects from a JSON item: our link fields, read-only ones dropped."""
    return ((number, _from_json(item)) for number, item in json_array_rows(text))


def _from_json(item: Any) -> Any:
    if isinstance(item, dict):
        return {key: value for key, value in item.items() if key not in _READ_ONLY_KEYS}
    return item


# -- validating ---------------------------------------------------------------------------------


_row_schema = ImportRowSchema()


@dataclass
class RowContext:
    """What every row's validation needs, computed once per import."""

    own_hosts: set[str]
    reserved: frozenset[str]


def row_context() -> RowContext:
    return RowContext(own_hosts=service_hosts(), reserved=reserved_slugs())


def clean_row(raw: Any, context: RowContext) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The row's values as the links service would store them, or its errors per field."""
    try:
        data: dict[str, Any] = _row_schema.load(raw)
    except ma.ValidationError as error:
        return None, flatten_errors(error.messages)
    errors: dict[str, list[str]] = {}
    try:
        data["url"] = validate_target_url(data["url"], own_hosts=context.own_hosts)
    except ValidationError as error:
        errors.update({k: [v] for k, v in error.errors.items()})
    slug = data.get("slug")
    if slug and slug.lower() in context.reserved:
        errors["slug"] = [slug_problem(slug) or "This short name is reserved."]
    if "tags" in data:
        try:
            data["tags"] = normalise_tags(data["tags"] or [])
        except ValidationError as error:
            errors.update({k: [v] for k, v in error.errors.items()})
    if "title" in data:
        data["title"] = " ".join((data["title"] or "").split())
    if "redirect_type" in data and data["redirect_type"] is None:
        data["redirect_type"] = DEFAULT_REDIRECT_TYPE
    expires_at = data.get("expires_at")
    if expires_at is not None:
        data["expires_at"] = expires_at = expires_at.astimezone(UTC)
        if expires_at <= utcnow():
            errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        return None, errors
    return data, {}


# -- writing ------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    created: list[str] = field(default_factory=list)
    #: Ids of the created links (visit counters are keyed by id).
    created_ids: list[int] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[int, str | None, dict[str, list[str]]]] = field(default_factory=list)


def _tag_ids(names: set[str]) -> dict[str, int]:
    """Ids of the tags ``names``, inserting the missing ones (a race is an IntegrityError)."""
    if not names:
        return {}
    found: dict[str, int] = dict(
        db.session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names))).all()
    )
    missing = sorted(names - found.keys())
    if missing:
        db.session.execute(insert(Tag), [{"name": name} for name in missing])
        found.update(
            (name, tag_id)
            for name, tag_id in db.session.execute(
                select(Tag.name, Tag.id).where(Tag.name.in_(missing))
            )
        )
    return found


def _draw_slugs(count: int, avoid: set[str]) -> list[str]:
    """``count`` free random slugs: drawn locally, checked against the table in one query."""
    chosen: list[str] = []
    while len(chosen) < count:
        fresh = [generate_slug(lambda s: s in avoid) for _ in range(count - len(chosen))]
        avoid.update(fresh)
        taken = set(db.session.scalars(select(Link.slug).where(Link.slug.in_(fresh))))
        chosen.extend(slug for slug in fresh if slug not in taken)
    return chosen


def _write_batch(owner_id: int, batch: list[tuple[int, dict[str, Any]]], update: bool) -> _Outcome:
    """Insert or update the batch's links with bulk statements (the caller commits)."""
    outcome = _Outcome()
    named = {values["slug"] for _, values in batch if values.get("slug")}
    existing: dict[str, tuple[int, int]] = (
        {
            slug: (link_id, link_owner)
            for slug, link_id, link_owner in db.session.execute(
                select(Link.slug, Link.id, Link.owner_id).where(Link.slug.in_(named))
            )
        }
        if named
        else {}
    )
    random_slugs = iter(_draw_slugs(sum(1 for _, v in batch if not v.get("slug")), set(named)))
    tag_ids = _tag_ids({name for _, values in batch for name in values.get("tags") or ()})

    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    new_tags: dict[str, list[int]] = {}
    updates: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}  # slug -> index in new_rows
    for row, values in batch:
        slug = values.get("slug") or next(random_slugs)
        if slug in existing:
            link_id, link_owner = existing[slug]
            if link_owner != owner_id:
                outcome.failed.append(
                    (row, slug, {"slug": [f"The short name “{slug}” is already taken."]})
                )
            elif update:
                updates.append((link_id, values))
                outcome.updated.append(slug)
            else:
                outcome.skipped += 1
            continue
        if slug in seen:  # the same slug twice in one batch: the first row wins
            if update:
                new_rows[seen[slug]].update(_columns(values, now))
                new_tags[slug] = [tag_ids[name] for name in values.get("tags") or ()]
            else:
                outcome.skipped += 1
            continue
        seen[slug] = len(new_rows)
        new_rows.append(
            {
                "slug": slug,
                "url": values["url"],
                "title": "",
                "redirect_type": DEFAULT_REDIRECT_TYPE,
                "expires_at": None,
                "max_visits": None,
                "password_hash": None,  # nosec B105  # no password set
                "disabled": False,
                "owner_id": owner_id,
                "created_at": now,
                **_columns(values, now),
            }
        )
        new_tags[slug] = [tag_ids[name] for name in values.get("tags") or ()]
        outcome.created.append(slug)

    if new_rows:
        ids: dict[str, int] = dict(
            db.session.execute(insert(Link).returning(Link.slug, Link.id), new_rows).all()
        )
        outcome.created_ids = list(ids.values())
        pairs = [
            {"link_id": ids[slug], "tag_id": tag_id}
            for slug, tags in new_tags.items()
            for tag_id in tags
        ]
        if pairs:
            db.session.execute(insert(link_tags), pairs)
    for link_id, values in updates:
        db.session.execute(update_(Link).where(Link.id == link_id).values(**_columns(values, now)))
        if "tags" in values:
            db.session.execute(delete(link_tags).where(link_tags.c.link_id == link_id))
            pairs = [{"link_id": link_id, "tag_id": tag_ids[n]} for n in values["tags"] or ()]
            if pairs:
                db.session.execute(insert(link_tags), pairs)
    return outcome


def _columns(values: dict[str, Any], now: Any) -> dict[str, Any]:
    """The row's values as ``links`` columns (only those the row has)."""
    columns: dict[str, Any] = {"updated_at": now}
    for name in ("url", "title", "redirect_type", "expires_at", "max_visits"):
        if name in values:
            columns[name] = values[name]
    if values.get("password"):
        columns["password_hash"] = hash_password(values["password"])
    return columns


def _flush(
    owner_id: int, batch: list[tuple[int, dict[str, Any]]], update: bool, report: ImportReport
) -> None:
    """Write one batch in one transaction; a lost race (a slug or tag inserted meanwhile by
    someone else) rolls back and tries again, then it is the rows' error."""
    outcome: _Outcome | None = None
    for _ in range(_WRITE_ATTEMPTS):
        try:
            outcome = _write_batch(owner_id, batch, update)
            db.session.commit()
            break
        except IntegrityError:
            db.session.rollback()
            outcome = None
    if outcome is None:
        for row, values in batch:
            report.fail(
                row,
                values.get("slug"),
                {"slug": ["Conflicted with a concurrent change; import this row again."]},
            )
        return
    report.created += len(outcome.created)
    report.updated += len(outcome.updated)
    report.skipped += outcome.skipped
    for row, slug, errors in outcome.failed:
        report.fail(row, slug, errors)
    _after_commit(outcome)
    time.sleep(0)  # under gevent: let other greenlets (and gunicorn's heartbeat) run


def _after_commit(outcome: _Outcome) -> None:
    """Evict the slugs everywhere; reset counters a deleted link may have left under a
    reused id (SQLite)."""
    changed = outcome.created + outcome.updated
    if changed:
        link_cache.invalidate(*changed)
    if outcome.created_ids:
        try:
            link_cache.redis.delete(*(VISITS_KEY.format(i) for i in outcome.created_ids))
        except redis.RedisError as error:
            current_app.logger.warning("import: could not reset visit counters: %s", error)


def run_import(
    owner_id: int,
    rows: Iterator[tuple[int, Any]],
    report: ImportReport,
    *,
    on_conflict: str = "skip",
    batch_size: int | None = None,
) -> ImportReport:
    """Validate and write ``rows``; the report says what happened to each.

    :class:`ImportFormatError` before the first row propagates (the input is unusable);
    later, it ends the import with the rows so far committed and ``complete`` false.
    """
    started = time.perf_counter()
    size = batch_size or int(current_app.config.get("API_IMPORT_BATCH_SIZE", 1000))
    update = on_conflict == "update"
    context = row_context()
    batch: list[tuple[int, dict[str, Any]]] = []
    try:
        for number, raw in rows:
            report.rows += 1
            values, errors = clean_row(raw, context)
            if values is None:
                slug = raw.get("slug") if isinstance(raw, dict) else None
                report.fail(number, slug if isinstance(slug, str) else None, errors)
                continue
            batch.append((number, values))
            if len(batch) >= size:
                _flush(owner_id, batch, update, report)
                batch = []
    except ImportFormatError as error:
        if report.rows == 0 and not error.row:
            raise
        report.complete = False
        report.fail(error.row or report.rows + 1, None, {"file": [error.message]})
    if batch:
        _flush(owner_id, batch, update, report)
    report.seconds = time.perf_counter() - started
    return report


def detect_kind(mimetype: str, filename: str | None, requested: str) -> str | None:
    """csv, json or ndjson from the explicit format, else the media type, else the name."""
    if requested != "auto":
        return requested
    by_type = {
        "text/csv": "csv",
        "application/csv": "csv",
        "text/plain": "csv",
        "application/vnd.ms-excel": "csv",
        "application/json": "json",
        "application/x-ndjson": "ndjson",
        "application/jsonl": "ndjson",
        "application/jsonlines": "ndjson",
    }
    if mimetype in by_type:
        return by_type[mimetype]
    name = (filename or "").lower()
    for suffix, kind in (
        (".csv", "csv"),
        (".ndjson", "ndjson"),
        (".jsonl", "ndjson"),
        (".json", "json"),
    ):
        if name.endswith(suffix):
            return kind
    return None


def rows_of(kind: str, text: IO[str], report: ImportReport) -> Iterator[tuple[int, Any]]:
    if kind == "csv":
        return csv_rows(text, report)
    if kind == "ndjson":
        return ((number, _from_json(item)) for number, item in ndjson_rows(text))
    return json_rows(text)


__all__ = [
    "MAX_REPORTED_ERRORS",
    "ImportFormatError",
    "ImportReport",
    "clean_row",
    "detect_kind",
    "rows_of",
    "run_import",
    "text_stream",
]
