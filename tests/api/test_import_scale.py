"""Importing a CSV through the HTTP endpoint in memory that does not grow with the file.

The body is generated while the server reads it (a lazy stream with a known length), so what
is measured is the server side: the request parsing, the row reader, validation and the
batched writes. ``make test`` checks flatness cheaply: the peak RSS growth of a 10,000-row
import against a 2,000-row one (10 batches against 2). Marked ``bench``, which ``make bench``
runs: 100,000 rows with the RSS bound, and tracemalloc's peak of Python allocations (about
ten times slower). Each prints the import's time; none asserts one (timings belong to the
benchmark, not to tests on a shared machine).
"""

from __future__ import annotations

import gc
import io
import re
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from service.extensions import db
from service.links.models import Link
from tests.fixtures.accounts import ApiClient

ROWS = 100_000


def csv_lines(rows: int, prefix: str = "bulk") -> Iterator[bytes]:
    yield b"slug,url,title,tags\n"
    for number in range(rows):
        yield (
            f"{prefix}-{number:06d},https://example.com/articles/{number}?ref=import,"
            f'Article number {number},"tag{number % 50},batch{number % 7}"\n'
        ).encode()


class LazyBody(io.RawIOBase):
    """A request body produced on demand, never held whole.

    Werkzeug's test client measures a stream by seeking to its end and back; this one
    answers those two seeks from the known length without producing anything.
    """

    def __init__(self, lines: Iterator[bytes], length: int) -> None:
        self.lines = lines
        self.pending = b""
        self.length = length
        self.position = 0
        self.at_end = False

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.length if self.at_end else self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2 and offset == 0:
            self.at_end = True
        elif whence == 0 and offset == self.position:
            self.at_end = False
        else:
            raise io.UnsupportedOperation("only the test client's length probe is supported")
        return self.tell()

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        while len(self.pending) < len(buffer):
            line = next(self.lines, None)
            if line is None:
                break
            self.pending += line
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        self.position += size
        return size


def _kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    assert match, field
    return int(match.group(1))


def _post_lazily(api: ApiClient, rows: int, prefix: str = "bulk") -> tuple[Any, int]:
    length = sum(len(line) for line in csv_lines(rows, prefix))
    response = api.post(
        "/api/v1/links/import",
        input_stream=LazyBody(csv_lines(rows, prefix), length),
        headers={"Content-Type": "text/csv", "Content-Length": str(length)},
    )
    return response, length


def _check(api: ApiClient, app: Flask, response: Any) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    report = response.get_json()
    assert (report["rows"], report["created"], report["failed"]) == (ROWS, ROWS, 0)
    with app.app_context():
        assert db.session.scalar(select(func.count(Link.id))) == ROWS
    assert api.get("/api/v1/links/bulk-099999").get_json()["tags"] == ["batch4", "tag49"]


def _backend(app: Flask) -> str:
    return str(app.config["SQLALCHEMY_DATABASE_URI"]).split(":", 1)[0]


def _import_measured(api: ApiClient, rows: int, prefix: str) -> tuple[Any, int, float, float]:
    """The import's answer, its CSV size, seconds and peak RSS growth in MB."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _kib("VmRSS")
    started = time.perf_counter()
    response, length = _post_lazily(api, rows, prefix)
    elapsed = time.perf_counter() - started
    return response, length, elapsed, (_kib("VmHWM") - before) / 1024


def _report(app: Flask, response: Any, rows: int, created: int) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    report = response.get_json()
    assert (report["rows"], report["created"], report["failed"]) == (rows, rows, 0)
    with app.app_context():
        assert db.session.scalar(select(func.count(Link.id))) == created


def test_import_memory_does_not_grow_with_the_file(api: ApiClient, app: Flask) -> None:
    """Five times the rows, the same peak: nothing in the import holds the whole file."""
    _report(app, _post_lazily(api, 1_000, "warm")[0], 1_000, 1_000)  # code paths, caches
    small = _import_measured(api, 2_000, "small")
    _report(app, small[0], 2_000, 3_000)
    large = _import_measured(api, 10_000, "large")
    _report(app, large[0], 10_000, 13_000)
    print(
        f"\n[{_backend(app)}] peak RSS growth {small[3]:.1f} MB for 2,000 rows, "
        f"{large[3]:.1f} MB for 10,000 rows ({large[1] / 1e6:.1f} MB of CSV)"
    )
    assert large[3] < small[3] + 8, f"{small[3]:.1f} MB, then {large[3]:.1f} MB"
    assert api.get("/api/v1/links/large-009999").get_json()["tags"] == ["batch3", "tag49"]


@pytest.mark.bench
def test_import_100k_rows_with_flat_memory(api: ApiClient, app: Flask) -> None:
    """Timing without a tracer; memory as the growth of the process's peak RSS."""
    response, length, elapsed, growth_mb = _import_measured(api, ROWS, "bulk")
    print(
        f"\n[{_backend(app)}] 100,000 rows ({length / 1e6:.1f} MB of CSV) in {elapsed:.1f} s "
        f"({ROWS / elapsed:,.0f} rows/s); peak RSS growth {growth_mb:.1f} MB"
    )
    _check(api, app, response)
    assert growth_mb < 100, f"peak RSS grew by {growth_mb:.1f} MB"


@pytest.mark.bench
def test_import_100k_rows_peak_memory_under_tracemalloc(api: ApiClient, app: Flask) -> None:
    """Every Python allocation traced (which makes the import about ten times slower)."""
    tracemalloc.start()
    try:
        response, length = _post_lazily(api, ROWS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(
        f"\n[{_backend(app)}] tracemalloc peak {peak / 1e6:.1f} MB while importing "
        f"{length / 1e6:.1f} MB of CSV"
    )
    _check(api, app, response)
    assert peak < 40e6, f"peak {peak / 1e6:.1f} MB for a {length / 1e6:.1f} MB file"
