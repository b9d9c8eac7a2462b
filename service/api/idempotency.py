"""``Idempotency-Key`` for POST: a retried request gets the first one's response, never a twin.

The first request with a key takes a lock in Redis (``SET NX``, shared by every replica), runs,
and stores its response for ``API_IDEMPOTENCY_TTL`` (24 h) under the API key and the
Idempotency-Key. A retry that arrives later replays the stored response (with
``Idempotent-Replayed: true``); one that arrives while the first is still running waits up to
``API_IDEMPOTENCY_WAIT`` seconds for it, then gets 409. The same Idempotency-Key with a
different body is a client bug: 422.

What is stored: responses below 500 (a 201, but also a 409 or 422 from the links service,
which a retry would only repeat). A 5xx or an exception releases the lock, so the client may
retry for real. A lock whose holder died expires after ``LOCK_SECONDS``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

import redis
from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..extensions import redis_client
from ..links.services import LinkError
from .auth import current_key
from .errors import ApiProblem, http_problem, link_problem

HEADER = "Idempotency-Key"
KEY_PREFIX = "linkfleet:idempotency:"
#: A lock outlives any sane request; it only matters when its holder died.
LOCK_SECONDS = 60
_VALID = re.compile(r"[\x21-\x7e]{1,255}")
_REPLAYED_HEADERS = ("Content-Type", "Location", "ETag")

# KEYS[1] = record, ARGV[1] = expected value, ARGV[2] = new value ("" deletes), ARGV[3] = ttl
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  return redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""


def _fingerprint() -> str:
    body = request.get_data(cache=True)
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _record_key(idempotency_key: str) -> str:
    hashed = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return f"{KEY_PREFIX}{current_key().id}:{hashed}"


def _replay(record: dict[str, Any]) -> Response:
    response = current_app.response_class(
        base64.b64decode(record["body"]), status=int(record["status"])
    )
    for name, value in record["headers"].items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _snapshot(response: Response, fingerprint: str) -> str:
    return json.dumps(
        {
            "state": "done",
            "fingerprint": fingerprint,
            "status": response.status_code,
            "headers": {
                name: response.headers[name]
                for name in _REPLAYED_HEADERS
                if name in response.headers
            },
            "body": base64.b64encode(response.get_data()).decode("ascii"),
        }
    )


def _run(view: Callable[..., Any], args: Any, kwargs: Any) -> Response:
    """The view's response, with errors turned into their problem responses."""
    try:
        result = view(*args, **kwargs)
    except LinkError as error:
        return link_problem(error)
    except HTTPException as error:
        return http_problem(error)
    return current_app.make_response(result)


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for POST views (below the authentication, which it needs for the key)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        idempotency_key = request.headers.get(HEADER)
        if idempotency_key is None:
            return _run(view, args, kwargs)
        if not _VALID.fullmatch(idempotency_key):
            raise ApiProblem(
                400,
                "Invalid Idempotency-Key header.",
                errors={HEADER: ["Use 1 to 255 visible ASCII characters, e.g. a UUID."]},
            )
        client: redis.Redis = redis_client.client
        record_key = _record_key(idempotency_key)
        fingerprint = _fingerprint()
        pending = json.dumps(
            {"state": "pending", "token": uuid.uuid4().hex, "fingerprint": fingerprint}
        )
        deadline = time.monotonic() + float(current_app.config["API_IDEMPOTENCY_WAIT"])
        try:
            while not client.set(record_key, pending, nx=True, ex=LOCK_SECONDS):
                raw = client.get(record_key)
                if raw is None:
                    continue  # the holder just gave up: try to take the lock again
                record = json.loads(raw)
                if record["fingerprint"] != fingerprint:
                    raise ApiProblem(
                        422,
                        "This Idempotency-Key was already used for a different request.",
                        errors={HEADER: ["Use a new key for a new request."]},
                    )
                if record["state"] == "done":
                    return _replay(record)
                if time.monotonic() >= deadline:
                    raise ApiProblem(
                        409,
                        "A request with this Idempotency-Key is still being processed.",
                        errors={HEADER: ["Retry after the first request has finished."]},
                        headers={"Retry-After": "1"},
                    )
                time.sleep(0.05)
        except redis.RedisError as error:
            current_app.logger.warning("idempotency store unavailable: %s", error)
            raise ApiProblem(
                503,
                "Idempotent requests are unavailable right now; retry shortly.",
                headers={"Retry-After": "2"},
            ) from None

        ttl = int(current_app.config["API_IDEMPOTENCY_TTL"])
        swap = client.register_script(_SWAP)
        try:
            response = _run(view, args, kwargs)
        except BaseException:
            _safely(swap, record_key, pending, "", ttl)
            raise
        if response.status_code < 500 and response.status_code != 429:
            _safely(swap, record_key, pending, _snapshot(response, fingerprint), ttl)
        else:
            _safely(swap, record_key, pending, "", ttl)
        return response

    return wrapper


def _safely(swap: Any, key: str, expected: str, new: str, ttl: int) -> None:
    """Store or release; the request itself already happened, so Redis trouble only logs."""
    try:
        swap(keys=[key], args=[expected, new, ttl])
    except redis.RedisError as error:
        current_app.logger.warning("could not update idempotency record %s: %s", key, error)
