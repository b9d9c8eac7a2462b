"""Orphan visits: requests that reached no link, counted per hour without a row per request.

Shlink's semantics (https://shlink.io/documentation/tracking-visits): an orphan visit is a
request that would answer "404 Not Found". LinkFleet records Shlink's three types:

* ``base_url`` - a GET of ``/`` on an added domain (which serves short links only: it goes
  to the domain's ``root_redirect`` or gets the 404 page). The default domain's ``/`` is the
  landing page, a page of the app like the login form, so a visit there is no orphan;
* ``invalid_short_url`` - a GET of ``/<slug>`` that served no redirect: no such link, or
  one that is disabled, expired or out of visits (404 or 410);
* ``regular_404`` - a GET of a path that is no page of the app (the router found no rule;
  ``/api/`` paths excluded: the API's 404s are answers to programs, not visits), or of a
  page an added domain or an unknown host does not serve (the domains' host gate marks those
  with :data:`ORPHAN_MARK`).

The path of an orphan visit is a click's (no Redis round trip while answering):
:func:`record_orphan` (an ``after_request`` hook) appends one line to the process's spool,
the shipper ships it to the click stream, and the worker (:func:`store_orphans`) adds it to
:class:`~.models.OrphanHourly`, keyed by (hour, type, host, referrer host). Nothing about
the visitor but the referrer's host and a bot flag is kept, never the address nor the
path. Each UTC hour holds at most ``referrer_cap`` distinct referrer hosts and
``host_cap`` distinct hosts: beyond them a visit counts as ``"other"``, so a flood of random
slugs, referrers or Host headers adds at most (cap + 1) rows per hour and type.

Orphan lines carry no event id and no processed-event row is written for them (that would
be a row per request): a batch redelivered after a worker died between its commit and its
ack is counted again. Orphan counts are at-least-once; clicks stay exactly-once.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import Connection, Table, select

from .aggregates import _Sql, _upsert
from .capture import EXTENSION_NAME, MAX_USER_AGENT, CaptureSettings, parse_user_agent
from .capture import referrer_host as _referrer_host
from .models import MAX_VALUE_LENGTH, OrphanHourly

#: The types recorded, in the order the pages show them.
TYPES = ("base_url", "invalid_short_url", "regular_404")
#: WSGI environ key under which a hook that answered the request itself (the domains' host
#: gate) names its orphan type; :func:`record_orphan` takes it over the view's.
ORPHAN_MARK = "linkfleet.orphan_type"
#: Every orphan line starts so (a click line starts with ``{"v":1,"id":``).
LINE_PREFIX = b'{"v":1,"orphan":'
#: The bucket of values beyond an hour's cap (and of Host headers that are no host name).
OTHER = "other"
#: Defaults of the worker's caps per UTC hour.
DEFAULT_REFERRER_CAP = 100
DEFAULT_HOST_CAP = 20

_TABLE: Table = OrphanHourly.__table__
_UPSERT = _upsert(
    _TABLE.name,
    ("hour", "type", "host", "referrer_host"),
    ("timestamptz[]", "text[]", "text[]", "text[]"),
)
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")
#: The redirect view: its 404s and 410s are ``invalid_short_url``.
_REDIRECT_ENDPOINT = "redirect.follow"


def orphan_type(method: str, endpoint: str | None, path: str, status: int) -> str | None:
    """The orphan type of an answered request, or None when it is no orphan visit."""
    if method != "GET":
        return None
    if endpoint == _REDIRECT_ENDPOINT:
        return "invalid_short_url" if status in (404, 410) else None
    if endpoint is None and status == 404 and not path.startswith("/api/"):
        return "regular_404"
    return None


def host_of(header: str) -> str:
    """The host name of a ``Host`` header, lower-cased, without port; :data:`OTHER` when it
    is not a host name (a client may send anything there)."""
    host = header.strip().lower()
    if host.startswith("["):  # [v6]:port
        host = host[1:].partition("]")[0]
        return (
            host if host and len(host) <= 45 and set(host) <= set("0123456789abcdef:.") else OTHER
        )
    host = host.rpartition(":")[0] if ":" in host else host
    return host if _HOST.match(host) else OTHER


def orphan_line(
    environ: dict[str, Any], kind: str, settings: CaptureSettings, now: float | None = None
) -> bytes:
    """The spool line of one orphan visit: type, time, host, referrer host, bot flag.

    ``DNT: 1`` / ``Sec-GPC: 1`` and ``ANALYTICS_CAPTURE_REFERRER`` drop the referrer, as
    for clicks."""
    moment = time.time() if now is None else now
    _, _, _, bot = parse_user_agent(environ.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT])
    private = any((environ.get(name) or "").strip() == "1" for name in ("HTTP_DNT", "HTTP_SEC_GPC"))
    referrer = ""
    if settings.referrer and not private:
        referrer = _referrer_host(environ.get("HTTP_REFERER", "")[:MAX_USER_AGENT])
    data = {
        "host": host_of(environ.get("HTTP_HOST", "")),
        "ref": referrer,
        "ts": round(moment, 3),
        "bot": 1 if bot else 0,
    }
    # The prefix first (json.dumps keeps insertion order): the worker tells lines apart by it.
    body = json.dumps(data, separators=(",", ":"))[1:]
    return LINE_PREFIX + json.dumps(kind).encode() + b"," + body.encode() + b"\n"


def record_orphan(response: Response) -> Response:
    """``after_request``: spool the request as an orphan visit when it is one.

    Never fails the response: a spool error counts as a capture error, like a click's."""
    kind = orphan_type(request.method, request.endpoint, request.path, response.status_code)
    if request.method == "GET" and ORPHAN_MARK in request.environ:
        kind = request.environ[ORPHAN_MARK]
    if kind is None:
        return response
    state = current_app.extensions.get(EXTENSION_NAME)
    if state is None or not state.enabled or not current_app.config["ANALYTICS_ORPHANS"]:
        return response
    try:
        state.append(orphan_line(request.environ, kind, state.capture))
    except Exception:
        state.capture_failed()
    return response


@dataclass(frozen=True, slots=True)
class OrphanVisit:
    """One orphan visit as the worker reads it from the stream."""

    type: str
    ts: float
    host: str = ""
    ref: str = ""
    bot: bool = False

    @property
    def hour(self) -> int:
        """Hours since the epoch."""
        return int(self.ts // 3600)


def is_orphan_line(raw: bytes | str) -> bool:
    """True for a stream entry written by :func:`orphan_line`."""
    prefix = raw[: len(LINE_PREFIX)]
    return prefix == (LINE_PREFIX if isinstance(raw, bytes) else LINE_PREFIX.decode())


def parse_orphan(raw: bytes | str) -> OrphanVisit | None:
    """The orphan visit of a stream entry, or None when it is not a valid one."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("orphan") not in TYPES:
        return None
    ts, host, ref = data.get("ts"), data.get("host", ""), data.get("ref", "")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return None
    if not 0 < ts < 32503680000 or not isinstance(host, str) or not isinstance(ref, str):
        return None
    return OrphanVisit(
        data["orphan"],
        float(ts),
        host[:MAX_VALUE_LENGTH],
        ref[:MAX_VALUE_LENGTH],
        bool(data.get("bot")),
    )


def _capped(seen: set[str], value: str, cap: int) -> str:
    """``value`` if it is already among the hour's values or there is room, else OTHER."""
    if value in seen or value in ("", OTHER):
        return value
    if len(seen - {"", OTHER}) >= cap:
        return OTHER
    seen.add(value)
    return value


def store_orphans(
    connection: Connection,
    visits: Sequence[OrphanVisit],
    *,
    referrer_cap: int = DEFAULT_REFERRER_CAP,
    host_cap: int = DEFAULT_HOST_CAP,
) -> int:
    """Add the batch's orphan visits to the hourly rows (inside the caller's transaction);
    returns how many were counted. Hosts and referrers new to a full hour count as
    :data:`OTHER` (two workers filling the same hour at once may each add a few)."""
    if not visits:
        return 0
    sql = _Sql(connection)
    # The hour as ORM writes and range queries bind it, so that rows meet the lookups below
    # and the report's ranges.
    moments = {hour: datetime.fromtimestamp(hour * 3600, UTC) for hour in {v.hour for v in visits}}
    hours = {hour: sql.hour(moment) for hour, moment in moments.items()}
    hosts: dict[int, set[str]] = defaultdict(set)
    referrers: dict[int, set[str]] = defaultdict(set)
    existing = connection.execute(
        select(_TABLE.c.hour, _TABLE.c.host, _TABLE.c.referrer_host).where(
            _TABLE.c.hour.in_(list(moments.values()))
        )
    )
    for row in existing:
        hour = int(row.hour.timestamp() // 3600)
        hosts[hour].add(row.host)
        referrers[hour].add(row.referrer_host)
    counts: dict[tuple[int, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for visit in visits:
        host = _capped(hosts[visit.hour], visit.host, host_cap)
        ref = _capped(referrers[visit.hour], visit.ref, referrer_cap)
        item = counts[(visit.hour, visit.type, host, ref)]
        item[0] += 1
        item[1] += 1 if visit.bot else 0
    sql.run(
        _UPSERT,
        [
            (hours[hour], kind, host, ref, v, b)
            for (hour, kind, host, ref), (v, b) in sql.ordered(counts.items())
        ],
    )
    return len(visits)


__all__ = [
    "OTHER",
    "TYPES",
    "OrphanVisit",
    "host_of",
    "is_orphan_line",
    "orphan_line",
    "orphan_type",
    "parse_orphan",
    "record_orphan",
    "store_orphans",
]
