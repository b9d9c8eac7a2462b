"""Spool files: each process appends its click events to a file of its own.

Layout of a spool directory (one per replica, e.g. ``.run/spool/replica-1/``)::

    clicks-<pid>-<token>.jsonl    events, one JSON line each, append-only
    clicks-<pid>-<token>.offset   how far the shipper has shipped, in bytes (20 digits)

The owning process holds an exclusive ``flock`` on its spool file for as long as it lives.
The kernel drops that lock when the process dies however it dies (``kill -9`` included), so
"the lock can be taken" is the test for "the owner is dead" - sturdier than probing the pid,
which containers reuse (every restarted gunicorn worker may be pid 7 again).

Appends are single ``write(2)`` calls on an ``O_APPEND`` descriptor: no user-space buffer
that a crash could lose, and the data survives the process in the page cache. The shipper
``fdatasync``s about once a second, so a machine crash loses at most about a second.

Offsets are written *after* the lines were shipped: a crash in between ships those lines
again, which is harmless because the worker counts every event id once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SPOOL_SUFFIX = ".jsonl"
OFFSET_SUFFIX = ".offset"
SPOOL_GLOB = f"clicks-*{SPOOL_SUFFIX}"
_OFFSET_WIDTH = 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_dir_name(name: str) -> str:
    """A replica name made safe as one path component."""
    cleaned = _SAFE_NAME.sub("_", name).strip("._") or "replica"
    return cleaned[:100]


def offset_path(spool_path: Path) -> Path:
    return spool_path.with_suffix(OFFSET_SUFFIX)


class SpoolWriter:
    """This process's spool file, open for appending and locked until the process ends."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()
        self.path = directory / f"clicks-{self.pid}-{secrets.token_hex(4)}{SPOOL_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self.fd = os.open(self.path, flags, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        #: Held while appending and while the shipper truncates a fully shipped file.
        self.lock = threading.Lock()
        self.closed = False

    def append(self, line: bytes) -> None:
        """Append one complete line (a plain write; no fsync on the hot path)."""
        with self.lock:
            if self.closed:
                raise OSError(f"{self.path} is closed")
            written = os.write(self.fd, line)
            while written < len(line):  # a short write (disk nearly full): finish the line
                written += os.write(self.fd, line[written:])

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def sync(self) -> None:
        """Flush the appended data to disk (``fdatasync``)."""
        os.fdatasync(self.fd)

    def truncate_if_shipped(self, cursor: SpoolCursor, min_size: int) -> bool:
        """Empty the file when everything in it was shipped and it has grown past
        ``min_size``, so a long-lived process does not keep an ever-growing file.

        The offset is reset *before* truncating: a crash in between ships the file's lines
        once more (harmless), never skips new ones.
        """
        with self.lock:
            size = self.size()
            if size < min_size or cursor.offset != size:
                return False
            cursor.save(0)
            os.ftruncate(self.fd, 0)
            return True

    def close(self) -> None:
        """Close (and so unlock) the file; its leftovers become another shipper's to ship.

        Callers that may race an append hold :attr:`lock` (it is not re-entrant, so this
        method does not take it).
        """
        if not self.closed:
            self.closed = True
            os.close(self.fd)


@dataclass
class Batch:
    """Complete lines read from a spool file and the offset just after them."""

    lines: list[bytes]
    end: int
    #: Bytes of incomplete or unreadable data skipped (only in files of dead processes).
    skipped: int = 0


class SpoolCursor:
    """Reads a spool file from its saved offset and saves the new offset after shipping."""

    def __init__(self, path: Path, fd: int | None = None) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if fd is None else fd
        self.offset_path = offset_path(path)
        self._offset_fd = os.open(self.offset_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.offset = self._load()
        self.closed = False

    def _load(self) -> int:
        raw = os.pread(self._offset_fd, _OFFSET_WIDTH + 1, 0).strip()
        try:
            offset = int(raw) if raw else 0
        except ValueError:
            logger.warning("spool offset %s is unreadable; shipping the file again", self.path)
            offset = 0
        if offset > self.size():  # a file truncated by a crash mid-rotation: start over
            offset = 0
        return offset

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def pending_bytes(self) -> int:
        return max(0, self.size() - self.offset)

    def read(self, max_lines: int, max_bytes: int = 1 << 20, *, final: bool = False) -> Batch:
        """Up to ``max_lines`` complete lines after the offset.

        A line without its newline is being written (or was cut by a crash); it is left for
        later unless ``final`` (the file's writer is dead), when it is skipped.
        """
        data = os.pread(self.fd, max_bytes, self.offset)
        if not data:
            return Batch([], self.offset)
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when data ends with a newline
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            tail = b""
        consumed = sum(len(line) + 1 for line in lines)
        skipped = 0
        if not lines and tail and len(data) == max_bytes:
            # One line longer than max_bytes: never an event of ours; skip it whole.
            end = data.find(b"\n")
            skipped = len(data) if end < 0 else end + 1
            consumed = skipped
        elif final and tail and self.offset + consumed + len(tail) >= self.size():
            skipped = len(tail)
            consumed += skipped
        good = [line for line in lines if line]
        return Batch(good, self.offset + consumed, skipped)

    def save(self, offset: int) -> None:
        """Remember that everything before ``offset`` was shipped."""
        os.pwrite(self._offset_fd, f"{offset:0{_OFFSET_WIDTH}d}\n".encode(), 0)
        self.offset = offset

    def close(self) -> None:
        """Close both files (idempotent: a closed fd number may already be someone else's)."""
        if self.closed:
            return
        self.closed = True
        for fd in (self._offset_fd, self.fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def claim_orphan(path: Path) -> SpoolCursor | None:
    """A cursor on the spool file of a dead process, locked so nobody else ships it;
    None when its owner lives, another shipper has it, or it is already gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)  # shipped and deleted while we opened it
        return SpoolCursor(path, fd)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise


def remove_shipped(cursor: SpoolCursor) -> None:
    """Delete a dead process's fully shipped spool file, then its offset file.

    In this order a crash in between leaves only an offset file, which
    :func:`remove_stale_offsets` clears; the other order could ship the file once more.
    """
    with contextlib.suppress(FileNotFoundError):
        cursor.path.unlink()
    with contextlib.suppress(FileNotFoundError):
        cursor.offset_path.unlink()
    cursor.close()


def remove_stale_offsets(directory: Path) -> None:
    """Offset files whose spool file is gone (left by a crash during clean-up)."""
    for path in directory.glob(f"clicks-*{OFFSET_SUFFIX}"):
        if not path.with_suffix(SPOOL_SUFFIX).exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def spool_files(directories: list[Path]) -> list[Path]:
    """Every spool file in ``directories`` (oldest first, by modification time)."""
    found: list[tuple[float, Path]] = []
    for directory in directories:
        for path in directory.glob(SPOOL_GLOB):
            with contextlib.suppress(FileNotFoundError):
                found.append((path.stat().st_mtime, path))
    return [path for _, path in sorted(found)]


__all__ = [
    "Batch",
    "SpoolCursor",
    "SpoolWriter",
    "claim_orphan",
    "remove_shipped",
    "remove_stale_offsets",
    "safe_dir_name",
    "spool_files",
]
