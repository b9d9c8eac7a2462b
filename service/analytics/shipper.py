"""The shipper: moves spooled click events to the Redis Stream, in batches, in the background.

One shipper runs per process that serves redirects: a daemon thread, which is a greenlet
under gunicorn's gevent worker (threading is monkey-patched there). It is started lazily by
the first request after a fork (:class:`~.extension.Analytics`), never at import time or in
``create_app``, so no thread or Redis connection is ever shared across a fork.

Each pass:

1. reads up to ``ANALYTICS_SHIP_BATCH`` new lines after the saved offset and ``XADD``s them,
   one entry per event, in one round trip (a small Lua script: far cheaper for the replica
   than a pipeline), *then* saves the new offset. The script first trims the entries every
   consumer group has acknowledged, and refuses the batch while the stream still holds
   ``ANALYTICS_STREAM_MAXLEN`` unacknowledged entries (:data:`XADD_MANY`): a stopped worker
   makes the spools grow, it never has unread clicks trimmed away;
2. about once a second ``fdatasync``s the spool file (off the event loop under gevent),
   whether or not the pass could ship: a Redis outage must not leave a second of clicks
   only in the page cache;
3. every ``ANALYTICS_ADOPT_INTERVAL`` seconds (and at start) ships the spool files of dead
   processes - a replica restarted after ``kill -9``, a recycled gunicorn worker, a replica
   removed by scaling down - and deletes them once fully shipped (:mod:`.spool`);
4. empties its own file once everything was shipped and it has grown past
   ``ANALYTICS_SPOOL_ROTATE_BYTES``.

While Redis is unreachable (or the stream is full) nothing is lost: the lines stay in the
file, the shipper retries with a capped backoff and catches up when Redis answers again.
When the process ends (gunicorn's ``worker_exit``, :meth:`Shipper.stop`) it ships what is
left; what it cannot ship stays in the file for the next process to adopt. A crash between
``XADD`` and saving the offset ships a batch twice; the worker counts each event id once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from ..extensions.metrics import SHIP_ERRORS, SHIPPED, SPOOL_BACKLOG
from ..extensions.redis_client import make_redis
from .capture import parse_user_agent
from .spool import (
    SpoolCursor,
    SpoolWriter,
    claim_orphan,
    remove_shipped,
    remove_stale_offsets,
    spool_files,
)

logger = logging.getLogger(__name__)

#: Field of a stream entry holding the event's JSON.
EVENT_FIELD = "e"
#: Trim stream KEYS[1] of what every consumer group has acknowledged, then, unless it still
#: holds ARGV[1] (the cap) or more entries, XADD every ARGV[2..] as its own entry
#: ``e=<event>``. Returns how many were added, or -1 when the stream is full.
#:
#: A group still needs its oldest pending entry, or, with nothing pending, everything after
#: its last delivered id: ``XTRIM MINID`` to the oldest such id over all groups removes only
#: acknowledged entries (exact, not ``~``: a kept head node would count against the cap for
#: ever). Without any group (the worker never ran) nothing is trimmed. So the stream's length
#: is what the worker has yet to count, and a full stream leaves the events in the spool.
XADD_MANY = """
local stream = KEYS[1]
local function older(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams < bms or (ams == bms and aseq < bseq)
end
if redis.call('EXISTS', stream) == 1 then
  local keep = nil
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
    local pending = redis.call('XPENDING', stream, info['name'])
    local needed
    if pending[1] > 0 then
      needed = pending[2]
    else
      local ms, seq = string.match(info['last-delivered-id'], '^(%d+)-(%d+)$')
      needed = ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)
    end
    if keep == nil or older(needed, keep) then keep = needed end
  end
  if keep ~= nil then redis.call('XTRIM', stream, 'MINID', keep) end
  if redis.call('XLEN', stream) >= tonumber(ARGV[1]) then return -1 end
end
for i = 2, #ARGV do
  redis.call('XADD', stream, '*', 'e', ARGV[i])
end
return #ARGV - 1
"""


class StreamFull(redis.RedisError):
    """The stream holds its cap of entries the worker has not acknowledged yet.

    Handled like an outage: the batch stays in the spool and is offered again later, so a
    stopped worker back-pressures the shippers instead of having unread clicks trimmed.
    """


MAX_BACKOFF = 5.0
#: Seconds between tries of a stopping shipper (SIGTERM): short, the graceful stop is finite.
HURRIED_RETRY = 0.1
#: Seconds a final flush keeps retrying; well inside gunicorn's graceful timeout (20 s).
FLUSH_PATIENCE = 5.0
#: How often an ongoing Redis outage is logged again.
OUTAGE_LOG_INTERVAL = 30.0


@dataclass(frozen=True)
class ShipperSettings:
    """How and where a shipper ships; made from the app config by the extension."""

    redis_url: str
    stream: str
    maxlen: int
    spool_dir: Path
    #: A directory whose sub-directories (other replicas' spools) are also adopted from.
    adopt_root: Path | None = None
    batch_size: int = 500
    interval: float = 0.2
    sync_interval: float = 1.0
    adopt_interval: float = 30.0
    rotate_bytes: int = 16 << 20
    socket_timeout: float = 2.0

    def adopt_dirs(self) -> list[Path]:
        """Where to look for spool files of dead processes (own directory first)."""
        dirs = [self.spool_dir]
        if self.adopt_root is not None and self.adopt_root.is_dir():
            others = (p for p in self.adopt_root.iterdir() if p.is_dir() and p != self.spool_dir)
            dirs += sorted(others)
        return dirs


def run_blocking(function: Any, *args: Any) -> Any:
    """Run a blocking system call off the gevent loop when gevent has patched threading."""
    try:
        from gevent import get_hub, monkey  # type: ignore[import-untyped, unused-ignore]
    except ImportError:  # pragma: no cover - gevent is a dependency
        return function(*args)
    if monkey.is_module_patched("threading"):
        return get_hub().threadpool.apply(function, args)
    return function(*args)


class Shipper:
    """Ships one process's spool file (``writer``) and adopts dead processes' files."""

    def __init__(self, settings: ShipperSettings, writer: SpoolWriter | None = None) -> None:
        self.settings = settings
        self.writer = writer
        self.cursor = SpoolCursor(writer.path) if writer is not None else None
        self._stop = threading.Event()
        #: Set to make the loop ship at once (see :meth:`hurry`).
        self._wake = threading.Event()
        #: The process is stopping: ship as soon as anything is spooled.
        self.hurrying = False
        self._thread: threading.Thread | None = None
        self._client: redis.Redis | None = None
        self._script: Any = None
        #: Events this shipper has shipped (own and adopted), for logs and tests.
        self.shipped = 0
        #: Size of the own spool file at its last ``fdatasync``: what a power loss keeps.
        self.synced_size = 0
        self._failing_since: float | None = None
        self._last_outage_log = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def client(self) -> redis.Redis:
        """A client of its own that fails fast: the shipper does its own backoff."""
        if self._client is None:
            self._client = make_redis(
                self.settings.redis_url, timeout=self.settings.socket_timeout, fail_fast=True
            )
        return self._client

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="linkfleet-shipper", daemon=True)
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def hurry(self) -> None:
        """Ship now and keep up until the process exits (it got SIGTERM).

        gunicorn may spend its whole graceful timeout waiting for idle keep-alive
        connections and then be killed before ``worker_exit`` runs: by then the spool must
        already be shipped.
        """
        self.hurrying = True
        self._wake.set()

    def stop(self, timeout: float = 10.0, *, flush: bool = True) -> None:
        """Stop the thread; with ``flush``, ship what is left, retrying for up to
        ``FLUSH_PATIENCE`` seconds while Redis is unreachable or the stream is at its cap
        (right after an outage every replica ships its backlog at once), then leave the rest
        in the file for the process that adopts it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if flush and self.cursor is not None:
            deadline = time.monotonic() + FLUSH_PATIENCE
            while True:
                try:
                    while self.ship_batch(self.cursor):
                        pass
                    break
                except (redis.RedisError, OSError) as error:
                    if time.monotonic() >= deadline:
                        logger.info(
                            "analytics: %s stays spooled for later (%s)", self.cursor.path, error
                        )
                        break
                    time.sleep(HURRIED_RETRY)
            self.sync()  # what is left must survive for the process that adopts the file
        if self._client is not None:
            self._client.close()
            self._client = None
            self._script = None

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Ship when due, sync when due - each on its own clock, so a failing or backed-off
        ship never delays the ``fdatasync`` of clicks that are only in the page cache."""
        parse_user_agent("Mozilla/5.0")  # load ua-parser's rules here, not in a request
        next_adopt = next_ship = 0.0
        next_sync = time.monotonic() + self.settings.sync_interval
        failures = 0
        while not self._stop.is_set():
            if time.monotonic() >= next_ship:
                try:
                    if time.monotonic() >= next_adopt:
                        self.ship_orphans()
                        next_adopt = time.monotonic() + self.settings.adopt_interval
                    shipped_before = self.shipped
                    if not self.ship_own():
                        self.rotate()
                    self._recovered()
                    failures = 0
                    # Caught up: wait for a batch worth shipping instead of sending each few
                    # clicks on their own (every round trip costs the replica's hot path CPU).
                    full_batch = self.shipped - shipped_before >= self.settings.batch_size
                    pause = self.settings.interval
                    if self.hurrying:
                        pause = min(pause, 0.05)
                    next_ship = time.monotonic() + (0.0 if full_batch else pause)
                except (redis.RedisError, OSError) as error:
                    failures += 1
                    SHIP_ERRORS.inc()
                    self._failed(error)
                    backoff = min(MAX_BACKOFF, 0.25 * 2 ** min(failures, 5))
                    if self.hurrying:  # stopping: keep trying while the graceful stop lasts
                        backoff = HURRIED_RETRY
                    next_ship = time.monotonic() + backoff
                except Exception:  # never let a bug end shipping for the process's lifetime
                    logger.exception("analytics: shipper error; retrying")
                    next_ship = time.monotonic() + 1.0
            if time.monotonic() >= next_sync:
                self.sync()
                next_sync = time.monotonic() + self.settings.sync_interval
            if self._wake.wait(max(0.0, min(next_ship, next_sync) - time.monotonic())):
                self._wake.clear()
                next_ship = 0.0

    def ship_own(self) -> bool:
        """Ship one batch of this process's own spool; True if it moved the offset."""
        if self.cursor is None:
            return False
        moved = self.ship_batch(self.cursor)
        SPOOL_BACKLOG.set(self.cursor.pending_bytes())
        return moved

    def ship_batch(self, cursor: SpoolCursor, *, final: bool = False) -> bool:
        """XADD the next batch of ``cursor``'s file, then save the offset after it."""
        batch = cursor.read(self.settings.batch_size, final=final)
        if batch.skipped:
            logger.warning(
                "analytics: skipped %d bytes of an incomplete line in %s",
                batch.skipped,
                cursor.path,
            )
        if batch.lines:
            self._xadd(batch.lines)
            SHIPPED.inc(len(batch.lines))
            self.shipped += len(batch.lines)
        if batch.end == cursor.offset:
            return False
        cursor.save(batch.end)
        return True

    def _xadd(self, lines: list[bytes]) -> None:
        """One stream entry per event, all in one round trip and one command.

        A pipeline of XADDs costs the replica about 9 us of CPU per event in redis-py;
        :data:`XADD_MANY` takes the whole batch as the arguments of one EVALSHA (about
        0.5 us per event here) and runs the XADDs inside Redis. Retried as a whole after an
        error: events already added are then added twice, which the worker skips by id.
        """
        if self._script is None:
            self._script = self.client.register_script(XADD_MANY)
        added = self._script(keys=[self.settings.stream], args=[self.settings.maxlen, *lines])
        if added < 0:
            raise StreamFull(
                f"{self.settings.stream} holds {self.settings.maxlen} or more entries the "
                "worker has not acknowledged"
            )

    def ship_orphans(self) -> int:
        """Ship and delete the spool files of dead processes; returns how many were done."""
        done = 0
        own = self.writer.path if self.writer is not None else None
        dirs = self.settings.adopt_dirs()
        for path in spool_files(dirs):
            if path == own or self._stop.is_set():
                continue
            cursor = claim_orphan(path)
            if cursor is None:
                continue  # its process is alive, or another shipper has it
            try:
                while not self._stop.is_set() and self.ship_batch(cursor, final=True):
                    pass
                if cursor.offset >= cursor.size():
                    logger.info("analytics: shipped the leftovers of %s", path.name)
                    remove_shipped(cursor)
                    done += 1
                else:
                    cursor.close()
            except BaseException:
                cursor.close()
                raise
        for directory in dirs:
            remove_stale_offsets(directory)
        return done

    def sync(self) -> None:
        """fdatasync the own spool when it changed since the last time."""
        if self.writer is None:
            return
        try:
            size = self.writer.size()
            if size != self.synced_size:
                run_blocking(self.writer.sync)
                self.synced_size = size
        except OSError as error:
            logger.warning("analytics: could not sync %s: %s", self.writer.path, error)

    def rotate(self) -> None:
        if self.writer is not None and self.cursor is not None:
            try:
                if self.writer.truncate_if_shipped(self.cursor, self.settings.rotate_bytes):
                    self.synced_size = 0
            except OSError as error:
                logger.warning("analytics: could not empty %s: %s", self.writer.path, error)

    # -- outage bookkeeping ------------------------------------------------------------------

    def _failed(self, error: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._last_outage_log >= OUTAGE_LOG_INTERVAL:
            self._last_outage_log = now
            logger.warning(
                "analytics: cannot ship click events (%s); they stay in the spool and are "
                "shipped when Redis answers again",
                error,
            )

    def _recovered(self) -> None:
        if self._failing_since is not None:
            logger.info(
                "analytics: shipping again after %.1fs", time.monotonic() - self._failing_since
            )
            self._failing_since = None
            self._last_outage_log = 0.0


__all__ = ["EVENT_FIELD", "Shipper", "ShipperSettings", "StreamFull", "run_blocking"]
