"""Export of a user's links as CSV or JSON, generated chunk by chunk.

The links come from the read side (:func:`service.links.queries.all_rows`: keyset pages, each
a short query of its own), so memory holds one chunk whatever the number of links.

The CSV columns are :data:`CSV_COLUMNS`, the fields the API shows; tags are comma-separated
inside their cell and times are ISO 8601 in UTC. The JSON is an array of the API's link
objects. Both import back as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..csv_cells import csv_line
from ..links.fields import BY_NAME, SHOWN
from ..links.queries import all_rows
from .presenters import link_dict
from .schemas import LinkSchema

CSV_COLUMNS = SHOWN
#: The columns whose field says how its cell is written.
_CELLS = {name: BY_NAME[name].to_csv for name in CSV_COLUMNS if BY_NAME[name].to_csv}
CHUNK = 1000


def iter_links(user: Any, chunk: int | None = None) -> Iterator[dict[str, Any]]:
    """Every link ``user`` may see, oldest first, as API dicts, ``chunk`` at a time."""
    for row in all_rows(user, chunk or CHUNK):
        yield link_dict(row)


def export_csv(user: Any) -> Iterator[str]:
    yield csv_line(list(CSV_COLUMNS))
    schema = LinkSchema()
    for data in iter_links(user):
        dumped = schema.dump(data)
        row = []
        for column in CSV_COLUMNS:
            value = dumped.get(column)
            to_csv = _CELLS.get(column)
            if to_csv is not None:
                value = to_csv(value)
            elif isinstance(value, list):
                value = ",".join(value)
            elif value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            row.append(value)
        yield csv_line(row)


def export_json(user: Any) -> Iterator[str]:
    schema = LinkSchema()
    yield "["
    first = True
    for data in iter_links(user):
        yield ("\n" if first else ",\n") + json.dumps(schema.dump(data), ensure_ascii=False)
        first = False
    yield "\n]\n"
