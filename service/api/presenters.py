"""Links as the API (and the export) shows them: plain dicts the schemas dump.

Each shown field of :mod:`service.links.fields` says how it reads a
:class:`~service.links.queries.LinkRow` (the link with its click total and short URL, as the
read side fetches them for a whole page at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..links.fields import FIELDS
from ..links.models import Link
from ..links.queries import LinkRow, row_of

_SHOWN = tuple(spec for spec in FIELDS if spec.show and spec.api_out)


def link_dict(row: LinkRow) -> dict[str, Any]:
    return {spec.name: spec.show(row) for spec in _SHOWN}  # type: ignore[misc]


def present(rows: Iterable[LinkRow]) -> list[dict[str, Any]]:
    return [link_dict(row) for row in rows]


def present_one(link: Link) -> dict[str, Any]:
    return link_dict(row_of(link))
