"""Visit limits: one counter per link in Redis, shared by every replica.

The check and the increment are one Lua script, so N replicas serving the same link at once
can never hand out more than ``max_visits`` redirects: Redis runs scripts one at a time. The
counter only grows for served visits (a refused visit leaves it alone), so it is also the
exact number of visits a limited link has served, and raising ``max_visits`` later lets
exactly the difference through.
"""

from __future__ import annotations

import hashlib

import redis
from redis.exceptions import NoScriptError

from .cache import link_cache

#: Redis key of a link's counter; ``{}`` is the slug.
VISITS_KEY = "linkfleet:visits:{}"

# KEYS[1] = counter, ARGV[1] = max_visits. Returns the new count, or 0 when the limit is reached.
_CONSUME = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then
  return 0
end
return redis.call('INCR', KEYS[1])
"""
_CONSUME_SHA = hashlib.sha1(_CONSUME.encode(), usedforsecurity=False).hexdigest()


def _client(client: redis.Redis | None) -> redis.Redis:
    return client if client is not None else link_cache.redis


def consume_visit(slug: str, max_visits: int, *, client: redis.Redis | None = None) -> bool:
    """Count one visit if the limit allows it; False when ``max_visits`` were already served.

    Raises :class:`redis.RedisError` when Redis is unreachable: the caller must then refuse
    (never over-serve).
    """
    connection = _client(client)
    key = VISITS_KEY.format(slug)
    try:
        served = connection.evalsha(_CONSUME_SHA, 1, key, max_visits)
    except NoScriptError:  # first use since Redis started: send the script itself
        served = connection.eval(_CONSUME, 1, key, max_visits)
    return bool(served)


def has_visits_left(slug: str, max_visits: int, *, client: redis.Redis | None = None) -> bool:
    """Whether a visit would be served now, without counting one (for HEAD and forms)."""
    return visit_count(slug, client=client) < max_visits


def visit_count(slug: str, *, client: redis.Redis | None = None) -> int:
    """Visits counted against the limit of ``slug`` (0 for a link never limited or visited)."""
    raw = _client(client).get(VISITS_KEY.format(slug))
    return int(raw) if raw is not None else 0


def forget_visits(slug: str, *, client: redis.Redis | None = None) -> None:
    """Drop the counter, so that a new link reusing ``slug`` starts from zero."""
    _client(client).delete(VISITS_KEY.format(slug))


def move_visits(old_slug: str, new_slug: str, *, client: redis.Redis | None = None) -> None:
    """Carry the counter over when a link changes its slug (the count belongs to the link)."""
    connection = _client(client)
    old_key, new_key = VISITS_KEY.format(old_slug), VISITS_KEY.format(new_slug)
    pipe = connection.pipeline(transaction=True)
    pipe.get(old_key)
    pipe.delete(old_key, new_key)
    count, _ = pipe.execute()
    if count is not None:
        connection.set(new_key, count)
