"""CSV lines for downloads, and cells a spreadsheet will not run as a formula.

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``, ``+``, ``-`` or
``@`` (and, in some, a tab or carriage return) as a formula, so a value an outsider chose (a
referrer host, a user agent's browser name) could run as one when someone opens the file
("CSV injection", OWASP). :func:`safe_cell` prefixes such text with ``'``, which the
spreadsheet shows as text; numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

#: What a spreadsheet may read as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value``, with text that a spreadsheet would run as a formula made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return f"'{value}"
    return value


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record with ``\\r\\n`` (RFC 4180), quoted where needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


__all__ = ["FORMULA_PREFIXES", "csv_line", "safe_cell"]
