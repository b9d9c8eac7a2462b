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

Rows are read one at a time, checked by the API's row schema and the links service's field
checks (target URL, slug rules and reserved names, tags, limits), and written through the
links service (:func:`~service.links.services.write_batch`) in batches of
``API_IMPORT_BATCH_SIZE`` rows, one transaction each. Import is idempotent by slug: a slug
that is already one of the owner's links is skipped (``on_conflict=skip``) or overwritten
(``on_conflict=update``); another owner's slug is a row error. Rows without a slug get a
random one, so importing those twice makes two links. The report lists failed rows with
per-field messages (the first :data:`MAX_REPORTED_ERRORS`).

The columns are the fields' own (:mod:`service.links.fields`): each declares the headings it
is read from and how a CSV cell becomes its value.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import marshmallow as ma
from flask import current_app

from ..links.fields import API_WRITABLE, BY_NAME, FIELDS, SHOWN, CheckContext, check
from ..links.services import ValidationError, write_batch
from .errors import flatten_errors
from .schemas import ImportRowSchema

#: The report lists at most this many failed rows (the counts cover all of them).
MAX_REPORTED_ERRORS = 1000
#: A single JSON item may not be larger than this.
MAX_JSON_ITEM = 1024 * 1024
_READ_CHUNK = 64 * 1024

# normalised CSV heading -> our field (the fields declare their headings, other tools' too)
_COLUMNS = {heading: spec.name for spec in FIELDS if spec.api for heading in spec.csv_headings}
# Read-only fields (our export writes them), and columns other tools write, that an import
# has no use for.
_READ_ONLY_KEYS = frozenset(SHOWN) - frozenset(API_WRITABLE)
#: Formats whose ``domain`` column names the other service's host: links go to the default domain.
_FOREIGN_FORMATS = frozenset({"shlink", "yourls"})
_READ_ONLY_COLUMNS = {key.replace("_", "") for key in _READ_ONLY_KEYS} | {
    "datecreated",
    "domain",
    "timestamp",
    "ip",
    "clicks",
    "hits",
}


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
        if target == "domain" and report.format in _FOREIGN_FORMATS:
            target = None  # the other service's host, not one of our domains
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


def _from_csv(raw: dict[str, Any], tag_separator: str, *, yourls: bool) -> dict[str, Any]:
    """CSV cells as the JSON types the row schema expects (bad numbers stay strings: the
    schema then reports them per field)."""
    row = {name: BY_NAME[name].from_csv(value) for name, value in raw.items()}
    if "tags" in raw and tag_separator != ",":
        row["tags"] = [tag for tag in raw["tags"].split(tag_separator) if tag.strip()]
    if yourls and "slug" in raw:
        row["slug"] = raw["slug"].strip("/") or None
    return row


def not_utf8(error: UnicodeDecodeError) -> ImportFormatError:
    """What a JSON or NDJSON upload that is not UTF-8 text stops with."""
    return ImportFormatError(f"The file is not UTF-8: {error.reason}")


def ndjson_rows(text: IO[str]) -> Iterator[tuple[int, Any]]:
    number = 0
    try:
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
    except UnicodeDecodeError as error:  # a binary upload: a clear error, not a 500
        raise not_utf8(error) from None


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
        raise not_utf8(error) from None


def json_rows(text: IO[str]) -> Iterator[tuple[int, Any]]:
    """Objects from a JSON item: our link fields, read-only ones dropped."""
    return ((number, _from_json(item)) for number, item in json_array_rows(text))


def _from_json(item: Any) -> Any:
    if isinstance(item, dict):
        return {key: value for key, value in item.items() if key not in _READ_ONLY_KEYS}
    return item


# -- validating ---------------------------------------------------------------------------------


_row_schema = ImportRowSchema()


def row_context() -> CheckContext:
    """What every row's check needs, computed once per import."""
    return CheckContext.current()


def load_row(raw: Any) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The row as the API's row schema reads it (shapes, types), or its errors per field.
    What the values mean is checked by the links service when the batch is written."""
    try:
        return _row_schema.load(raw), {}
    except ma.ValidationError as error:
        return None, flatten_errors(error.messages)


def clean_row(
    raw: Any, context: CheckContext
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The row's values as the links service would store them, or its errors per field:
    :func:`load_row`, then the service's field checks (a dry run of one row)."""
    data, errors = load_row(raw)
    if data is None:
        return None, errors
    try:
        return check(data, context), {}
    except ValidationError as error:
        return None, {name: [message] for name, message in error.errors.items()}


def _flush(
    owner: Any,
    batch: list[tuple[int, dict[str, Any]]],
    update: bool,
    report: ImportReport,
    context: CheckContext,
) -> None:
    """Write one batch through the links service (one transaction) and count the outcome."""
    outcome = write_batch(owner, batch, update_existing=update, context=context)
    report.created += len(outcome.created)
    report.updated += len(outcome.updated)
    report.skipped += outcome.skipped
    for row, slug, errors in outcome.failed:
        report.fail(row, slug, {name: [message] for name, message in errors.items()})
    time.sleep(0)  # under gevent: let other greenlets (and gunicorn's heartbeat) run


def run_import(
    owner: Any,
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
            values, errors = load_row(raw)
            if values is None:
                slug = raw.get("slug") if isinstance(raw, dict) else None
                report.fail(number, slug if isinstance(slug, str) else None, errors)
                continue
            batch.append((number, values))
            if len(batch) >= size:
                _flush(owner, batch, update, report, context)
                batch = []
    except ImportFormatError as error:
        if report.rows == 0 and not error.row:
            raise
        report.complete = False
        report.fail(error.row or report.rows + 1, None, {"file": [error.message]})
    if batch:
        _flush(owner, batch, update, report, context)
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
    "load_row",
    "rows_of",
    "run_import",
    "text_stream",
]
