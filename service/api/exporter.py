"""Export of a user's links as CSV or JSON, generated chunk by chunk.

The links are read by keyset pagination (``id > last ORDER BY id LIMIT n``), each chunk a short
query of its own, rather than one server-side cursor held open for the whole download: a slow
client then never pins a PostgreSQL connection and snapshot, nor an SQLite read transaction
that would stop WAL checkpoints, and memory holds one chunk whatever the number of links.

The CSV columns are :data:`CSV_COLUMNS`; tags are comma-separated inside their cell and times
are ISO 8601 in UTC. The JSON is an array of the API's link objects. Both import back as is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from ..extensions import db
from ..links.models import Link
from ..links.services import visible_links
from .presenters import present
from .schemas import LinkSchema

CSV_COLUMNS = (
    "slug",
    "short_url",
    "url",
    "title",
    "tags",
    "redirect_type",
    "expires_at",
    "max_visits",
    "visits",
    "has_password",
    "created_at",
    "updated_at",
)
CHUNK = 1000


def iter_links(user: Any, chunk: int | None = None) -> Iterator[dict[str, Any]]:
    """Every link ``user`` may see, oldest first, as API dicts, ``chunk`` at a time."""
    size = chunk or CHUNK
    base = visible_links(user).order_by(Link.id)
    last = 0
    while True:
        links = db.session.scalars(base.where(Link.id > last).limit(size)).all()
        if not links:
            return
        last = links[-1].id
        yield from present(links)
        db.session.expunge_all()  # the chunk's objects can go


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def export_csv(user: Any) -> Iterator[str]:
    yield _csv_line(list(CSV_COLUMNS))
    schema = LinkSchema()
    for data in iter_links(user):
        dumped = schema.dump(data)
        row = []
        for column in CSV_COLUMNS:
            value = dumped.get(column)
            if column == "tags":
                value = ",".join(value or ())
            elif value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            row.append(value)
        yield _csv_line(row)


def export_json(user: Any) -> Iterator[str]:
    schema = LinkSchema()
    yield "["
    first = True
    for data in iter_links(user):
        yield ("\n" if first else ",\n") + json.dumps(schema.dump(data), ensure_ascii=False)
        first = False
    yield "\n]\n"
