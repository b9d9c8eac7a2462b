"""Privacy at the fleet's edge: nginx's logs kept for a bounded time, and the client headers
nginx must not pass on.

nginx's access log holds each request's client *network* (see ``nginx.conf``), and even that
only for a while: :func:`run` (the fleet's ``logrotate`` program under supervisord) rotates
``nginx-access.log`` and ``nginx-error.log`` once a day or at a size, whichever comes first,
keeps a fixed number of rotated files and deletes older ones. The other logs of the fleet
are supervisord's, which rotates them by size.

A log is rotated by copying it and truncating it in place ("copytruncate"), not by renaming
it and sending nginx ``SIGUSR1``: started as root, nginx's workers run as ``nobody`` and
cannot reopen files in a private run directory (``/root/...``), while nginx opens its logs
with ``O_APPEND``, so after the truncation it simply writes at the new end. What nginx
writes between the copy and the truncation (milliseconds) is lost.

    python -m service.fleet.privacy LOG_DIR
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings

logger = logging.getLogger(__name__)

#: The logs nginx writes itself (supervisord rotates what it captures).
NGINX_LOGS = ("nginx-access.log", "nginx-error.log")


def country_headers() -> list[str]:
    """The configured country header, if any: nginx clears it with the well-known ones."""
    header = Settings.from_env().analytics_country_header.strip()
    return [header] if header else []


@dataclass(frozen=True)
class Retention:
    """How long nginx's logs live: at most ``(keep + 1) * every`` seconds, ``keep + 1`` files."""

    #: Rotate a log at least this often (seconds) ...
    every: float = 86400.0
    #: ... or as soon as it is this large.
    max_bytes: int = 64 * 1024 * 1024
    #: Rotated files kept (``.1`` newest); older ones are deleted.
    keep: int = 7


def rotated(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


def rotate(path: Path, keep: int) -> None:
    """``path``'s lines move to ``path.1``, ``path.1`` becomes ``path.2`` ...; beyond ``keep``,
    gone. ``path`` itself stays (empty), still open in nginx."""
    prune(path, keep - 1)
    for number in range(keep - 1, 0, -1):
        if rotated(path, number).exists():
            rotated(path, number).replace(rotated(path, number + 1))
    if keep > 0:
        shutil.copyfile(path, rotated(path, 1))
    os.truncate(path, 0)


def prune(path: Path, keep: int) -> None:
    """Delete the rotated files of ``path`` numbered above ``keep``."""
    for candidate in path.parent.glob(f"{path.name}.*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit() and int(suffix) > keep:
            candidate.unlink(missing_ok=True)


def _last_rotation(path: Path) -> float:
    """When ``path`` was last rotated, as far as the files tell (else: now)."""
    newest = rotated(path, 1)
    return newest.stat().st_mtime if newest.exists() else time.time()


class Rotator:
    """Rotates the due logs of one directory."""

    def __init__(self, log_dir: Path, retention: Retention) -> None:
        self.paths = [log_dir / name for name in NGINX_LOGS]
        self.retention = retention
        self.last = {path: _last_rotation(path) for path in self.paths}

    def due(self, path: Path, now: float) -> bool:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return False
        if size >= self.retention.max_bytes:
            return True
        return size > 0 and now - self.last[path] >= self.retention.every

    def run_once(self, now: float | None = None) -> list[Path]:
        """Rotate what is due; return the rotated logs."""
        moment = time.time() if now is None else now
        done = [path for path in self.paths if self.due(path, moment)]
        for path in done:
            rotate(path, self.retention.keep)
            self.last[path] = moment
        for path in self.paths:
            prune(path, self.retention.keep)
        if done:
            logger.info("rotated %s", ", ".join(path.name for path in done))
        return done


def run(rotator: Rotator, interval: float, rounds: Iterable[int] | None = None) -> None:
    """Check every ``interval`` seconds, forever (or once per item of ``rounds``)."""
    for _ in rounds if rounds is not None else itertools.count():
        rotator.run_once()
        time.sleep(interval)


def main(argv: Sequence[str] | None = None) -> None:
    defaults = Retention()
    parser = argparse.ArgumentParser(
        description="Rotate nginx's logs daily or at a size, and delete the oldest."
    )
    parser.add_argument("log_dir", type=Path)
    parser.add_argument("--every", type=float, default=defaults.every, help="%(default)s s")
    parser.add_argument("--max-bytes", type=int, default=defaults.max_bytes, help="%(default)s")
    parser.add_argument("--keep", type=int, default=defaults.keep, help="%(default)s files")
    parser.add_argument("--interval", type=float, default=10.0, help="check every %(default)s s")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    retention = Retention(every=args.every, max_bytes=args.max_bytes, keep=args.keep)
    run(Rotator(args.log_dir, retention), args.interval)


if __name__ == "__main__":
    main()
