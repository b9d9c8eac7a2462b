"""Visit limits: one counter per link in Redis, shared by every replica.

The check and the increment are one Lua script, so N replicas serving the same link at once
can never hand out more than ``max_visits`` redirects: Redis runs scripts one at a time. The
counter only grows for served visits (a refused visit leaves it alone), so it is also the
exact number of visits a limited link has served, and raising ``max_visits`` later lets
exactly the difference through.

Counters are keyed by the link's id, never its slug: a rename needs no move (replicas with
a stale cache entry still count under the same key), and a new link reusing a deleted
link's slug starts from zero.

A request that nginx retries on a second replica (``proxy_next_upstream``, after the first
one stalled or died having already counted the visit) carries the same trusted request id.
The script remembers, beside the counter, which request ids it has let through for a few
minutes (``SET NX`` in the same script) and lets a retry through without spending a visit
again: one request, one visit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import redis
from redis.exceptions import NoScriptError

from .cache import link_cache

#: Redis key of a link's counter; ``{}`` is the link id.
VISITS_KEY = "linkfleet:visits:link:{}"
#: Redis key marking a request id that was granted a visit of the link (``{link}:{request}``).
GRANTED_KEY = "linkfleet:visits:granted:{}:{}"
#: How long a granted request id is remembered: longer than nginx keeps retrying a request.
GRANTED_TTL = 300

#: Redis key of a counter from before counters were keyed by link id (``{}`` is the slug):
#: the first visit after an upgrade adopts it, so a limit already spent stays spent.
LEGACY_VISITS_KEY = "linkfleet:visits:{}"

# KEYS[1] = counter, KEYS[2] = legacy slug-keyed counter, KEYS[3] = granted-request marker
# (optional), ARGV[1] = max_visits, ARGV[2] = marker TTL. Returns the count, or 0 when the
# limit is reached. A request id already granted gets its visit again without counting one.
_CONSUME = """
if KEYS[3] then
  local granted = redis.call('GET', KEYS[3])
  if granted then
    return tonumber(granted)
  end
end
local raw = redis.call('GET', KEYS[1])
if not raw then
  raw = redis.call('GET', KEYS[2])
  if raw then
    redis.call('SET', KEYS[1], raw)
    redis.call('DEL', KEYS[2])
  end
end
local count = tonumber(raw or '0')
if count >= tonumber(ARGV[1]) then
  return 0
end
count = redis.call('INCR', KEYS[1])
if KEYS[3] then
  redis.call('SET', KEYS[3], count, 'EX', ARGV[2], 'NX')
end
return count
"""
_CONSUME_SHA = hashlib.sha1(_CONSUME.encode(), usedforsecurity=False).hexdigest()


def _client(client: redis.Redis | None) -> redis.Redis:
    return client if client is not None else link_cache.redis


def consume_visit(
    link_id: int,
    max_visits: int,
    *,
    slug: str = "",
    request_id: str | None = None,
    client: redis.Redis | None = None,
) -> bool:
    """Count one visit if the limit allows it; False when ``max_visits`` were already served.

    ``slug`` names the link's counter from before the upgrade to id-keyed counters, adopted
    on the first visit. ``request_id`` is the trusted proxy's id of the request (None
    without one): a retry of a request already granted is served again and not counted twice.

    Raises :class:`redis.RedisError` when Redis is unreachable: the caller must then refuse
    (never over-serve).
    """
    connection = _client(client)
    keys = [VISITS_KEY.format(link_id), LEGACY_VISITS_KEY.format(slug)]
    if request_id:
        keys.append(GRANTED_KEY.format(link_id, request_id))
    try:
        served = connection.evalsha(_CONSUME_SHA, len(keys), *keys, max_visits, GRANTED_TTL)
    except NoScriptError:  # first use since Redis started: send the script itself
        served = connection.eval(_CONSUME, len(keys), *keys, max_visits, GRANTED_TTL)
    return bool(served)


def has_visits_left(link_id: int, max_visits: int, *, client: redis.Redis | None = None) -> bool:
    """Whether a visit would be served now, without counting one (for HEAD and forms)."""
    return visit_count(link_id, client=client) < max_visits


def visit_count(link_id: int, *, client: redis.Redis | None = None) -> int:
    """Visits counted against the limit of link ``link_id`` (0 if never limited or visited)."""
    return visit_counts([link_id], client=client)[0]


def visit_counts(link_ids: Sequence[int], *, client: redis.Redis | None = None) -> list[int]:
    """The counter of each link (0 when never counted), in one round trip."""
    if not link_ids:
        return []
    raw = _client(client).mget([VISITS_KEY.format(link_id) for link_id in link_ids])
    return [int(value) if value is not None else 0 for value in raw]


def forget_visits(link_id: int, *, client: redis.Redis | None = None) -> None:
    """Drop the counter of a deleted link (and of a new one: SQLite may reuse a deleted id)."""
    _client(client).delete(VISITS_KEY.format(link_id))
