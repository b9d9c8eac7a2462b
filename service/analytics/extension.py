"""The analytics extension: connects click capture and starts the shipper after a fork."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from .. import signals
from ..config import default_run_dir
from ..extensions.metrics import CAPTURE_ERRORS
from .capture import EXTENSION_NAME, CaptureSettings, on_link_visited
from .live import hub_of, init_live
from .orphans import record_orphan
from .shipper import Shipper, ShipperSettings
from .spool import SpoolWriter, remove_shipped, safe_dir_name

logger = logging.getLogger(__name__)

#: Where click events go: the Redis Stream that ``linkfleet worker`` reads.
DEFAULT_STREAM = "linkfleet:clicks"


class Analytics:
    """Records every served redirect as a click event, off the hot path.

    :meth:`init_app` connects :func:`~.capture.on_link_visited` to ``link_visited`` and
    adds a ``before_request`` hook that, on the first request of a process, opens the
    process's spool file and starts its :class:`~.shipper.Shipper`. Nothing is opened,
    started or connected before that.

    Config keys read (defaults set here):

    ``ANALYTICS_ENABLED`` (True)
        False records nothing.
    ``ANALYTICS_SPOOL_DIR`` ("")
        This process's spool directory. Empty: ``<run dir>/spool/<REPLICA_NAME>``, and
        leftovers of every replica under ``<run dir>/spool/`` are adopted (so scaling down
        strands nothing). Apps with ``TESTING`` and no spool directory record nothing,
        so tests never write into the checkout's ``.run/``.
    ``ANALYTICS_CAPTURE_REFERRER`` / ``_USER_AGENT`` / ``_COUNTRY`` (True),
    ``ANALYTICS_COUNTRY_HEADER`` ("")
        Privacy switches and the trusted country header (see :mod:`.capture`).
    ``ANALYTICS_STREAM`` ("linkfleet:clicks"), ``ANALYTICS_STREAM_MAXLEN`` (1,000,000)
        The Redis Stream and its approximate length cap.
    ``ANALYTICS_SHIP_BATCH`` (500), ``ANALYTICS_SHIP_INTERVAL`` (0.2 s),
    ``ANALYTICS_SYNC_INTERVAL`` (1 s), ``ANALYTICS_ADOPT_INTERVAL`` (30 s),
    ``ANALYTICS_SPOOL_ROTATE_BYTES`` (16 MiB)
        Shipper tuning (see :mod:`.shipper`).
    ``ANALYTICS_ORPHANS`` (True)
        Also spool orphan visits (unknown slugs, other 404s: :mod:`.orphans`).
    ``REDIS_URL``, ``REDIS_SOCKET_TIMEOUT``, ``SECRET_KEY``, ``REPLICA_NAME``, ``TESTING``.
    """

    extension_name = EXTENSION_NAME

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.extension_name in app.extensions:
            raise RuntimeError("Analytics is already registered on this app")
        config = app.config
        config.setdefault("ANALYTICS_ENABLED", True)
        config.setdefault("ANALYTICS_SPOOL_DIR", "")
        config.setdefault("ANALYTICS_CAPTURE_REFERRER", True)
        config.setdefault("ANALYTICS_CAPTURE_USER_AGENT", True)
        config.setdefault("ANALYTICS_CAPTURE_COUNTRY", True)
        config.setdefault("ANALYTICS_COUNTRY_HEADER", "")
        config.setdefault("ANALYTICS_STREAM", DEFAULT_STREAM)
        config.setdefault("ANALYTICS_STREAM_MAXLEN", 1_000_000)
        config.setdefault("ANALYTICS_SHIP_BATCH", 500)
        config.setdefault("ANALYTICS_SHIP_INTERVAL", 0.2)
        config.setdefault("ANALYTICS_SYNC_INTERVAL", 1.0)
        config.setdefault("ANALYTICS_ADOPT_INTERVAL", 30.0)
        config.setdefault("ANALYTICS_SPOOL_ROTATE_BYTES", 16 << 20)
        config.setdefault("REDIS_SOCKET_TIMEOUT", 1.0)
        config.setdefault("ANALYTICS_ORPHANS", True)
        app.extensions[self.extension_name] = _State(config)
        # One receiver for every app; it finds the sending app's state (idempotent).
        signals.link_visited.connect(on_link_visited)
        app.before_request(app.extensions[self.extension_name].ensure_started)
        # App-wide: a 404 of a path no blueprint owns has no blueprint to hook into.
        app.after_request(record_orphan)
        init_live(app)  # the live statistics streams (:mod:`.live`)

    @classmethod
    def state_of(cls, app: Any) -> _State | None:
        """The analytics state of ``app``, or None when the extension is not registered."""
        extensions = getattr(app, "extensions", None)
        return None if extensions is None else extensions.get(cls.extension_name)

    def shipper(self, app: Flask) -> Shipper | None:
        """This process's shipper of ``app`` (None before the first request)."""
        state = self.state_of(app)
        return None if state is None else state.shipper

    def hurry(self, app: Flask) -> None:
        """Make this process's shipper of ``app`` ship at once and keep up: it is stopping."""
        shipper = self.shipper(app)
        if shipper is not None:
            shipper.hurry()
        hub = hub_of(app)
        if hub is not None:
            hub.end_streams()  # open live streams would hold the drain to its deadline

    def shutdown(self, app: Flask, *, flush: bool = True) -> None:
        """Stop the shipper of ``app`` and close its spool (tests, orderly exits).

        With ``flush`` the shipper first ships what is left, if Redis answers, and removes
        the file when all of it was shipped; whatever it cannot ship stays in the file for
        the next process to adopt. Without ``flush`` the files stay as a crash leaves them.
        """
        state = self.state_of(app)
        if state is not None:
            state.stop(flush=flush)
        hub = hub_of(app)
        if hub is not None:
            hub.stop()


class _State:
    """Per-app, per-process state: capture settings, the spool writer and the shipper."""

    def __init__(self, config: Any) -> None:
        self.capture = CaptureSettings.from_config(config)
        self.enabled = bool(config["ANALYTICS_ENABLED"])
        configured = str(config["ANALYTICS_SPOOL_DIR"] or "").strip()
        adopt_root: Path | None = None
        if configured:
            spool_dir = Path(configured).resolve()
        elif config.get("TESTING"):
            self.enabled = False
            spool_dir = Path()
        else:
            adopt_root = default_run_dir() / "spool"
            spool_dir = adopt_root / safe_dir_name(str(config.get("REPLICA_NAME") or "replica"))
        self.settings = ShipperSettings(
            redis_url=config["REDIS_URL"],
            stream=config["ANALYTICS_STREAM"],
            maxlen=int(config["ANALYTICS_STREAM_MAXLEN"]),
            spool_dir=spool_dir,
            adopt_root=adopt_root,
            batch_size=int(config["ANALYTICS_SHIP_BATCH"]),
            interval=float(config["ANALYTICS_SHIP_INTERVAL"]),
            sync_interval=float(config["ANALYTICS_SYNC_INTERVAL"]),
            adopt_interval=float(config["ANALYTICS_ADOPT_INTERVAL"]),
            rotate_bytes=int(config["ANALYTICS_SPOOL_ROTATE_BYTES"]),
            socket_timeout=max(1.0, float(config["REDIS_SOCKET_TIMEOUT"])),
        )
        self.writer: SpoolWriter | None = None
        self.writer_pid = 0
        self._retry_at = 0.0
        self.shipper: Shipper | None = None
        self.pid = 0
        self._lock = threading.Lock()
        self._last_error_log = 0.0

    def ensure_started(self) -> None:
        """``before_request``: open the spool and start the shipper once per process.

        Never fails the request: if the spool cannot be opened (a full or read-only disk),
        that is logged, clicks count as capture errors, and it is tried again 10 s later.
        """
        if self.pid == os.getpid() or not self.enabled:
            return
        with self._lock:
            if self.pid == os.getpid() or time.monotonic() < self._retry_at:
                return
            if self.writer is not None and self.writer_pid != os.getpid():
                # Inherited across a fork: the parent's file and lock are not ours.
                self.writer.close()
                self.writer, self.shipper = None, None
            try:
                writer = SpoolWriter(self.settings.spool_dir)
            except OSError:
                self._retry_at = time.monotonic() + 10
                logger.exception(
                    "analytics: cannot open a spool file in %s", self.settings.spool_dir
                )
                return
            self.writer, self.writer_pid = writer, os.getpid()
            self.shipper = Shipper(self.settings, writer)
            self.shipper.start()
            self.pid = os.getpid()

    def append(self, line: bytes) -> None:
        """Append one encoded event to this process's spool (OSError when there is none)."""
        if self.pid != os.getpid():
            self.ensure_started()
        writer = self.writer
        if writer is None or self.writer_pid != os.getpid():
            raise OSError("no spool file is open in this process")
        writer.append(line)

    def capture_failed(self) -> None:
        CAPTURE_ERRORS.inc()
        now = time.monotonic()
        if now - self._last_error_log >= 10:
            self._last_error_log = now
            logger.exception("analytics: could not spool a click event")

    def stop(self, *, flush: bool = True) -> None:
        with self._lock:
            shipper, writer = self.shipper, self.writer
            if shipper is not None and self.pid == os.getpid():
                shipper.stop(flush=flush)
                if flush and writer is not None and shipper.cursor is not None:
                    with writer.lock:  # no append can slip in between check and removal
                        if shipper.cursor.offset >= writer.size():
                            remove_shipped(shipper.cursor)
                        writer.close()
                shipper.close()
            if writer is not None:
                writer.close()
            self.shipper = None
            self.writer = None
            self.pid = 0


if TYPE_CHECKING:
    analytics: Analytics


def __getattr__(name: str) -> object:
    """``analytics``, the instance in :mod:`service.extensions`, importable from here too."""
    if name == "analytics":
        from .. import extensions

        return extensions.analytics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_STREAM", "Analytics", "analytics"]
