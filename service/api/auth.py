"""Bearer-key authentication, scopes and per-key rate limits for the API views.

``Authorization: Bearer lf_<prefix>_<secret>``. Missing or unknown keys are 401 with a
``WWW-Authenticate: Bearer`` challenge (RFC 6750); a ``read`` key on a writing endpoint is 403
``insufficient_scope``. Each key then spends from two budgets kept in Redis, so that every
replica counts against the same numbers: ``API_READ_RATE_LIMIT`` for reads and
``API_WRITE_RATE_LIMIT`` for writes. Flask-Limiter adds ``X-RateLimit-*`` and ``Retry-After``;
:func:`add_ratelimit_headers` adds the IETF draft's ``RateLimit-Limit``/``-Remaining``/``-Reset``.

A key that is not found costs a database lookup, so failures are budgeted per client before
the lookup: past ``API_AUTH_FAILURE_LIMIT`` (default ``"10 per minute"``) unknown keys from
one client (IPv4 address, IPv6 /64), its requests with a key answer 429 with ``Retry-After``
without a query, whatever key they carry, until the window ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, request

from ..extensions import limiter
from ..extensions.rate_limits import BudgetSpent, FailureBudget, client_key
from ..links.cache import link_cache
from .errors import ApiProblem
from .keys import find_active_key, touch
from .models import ApiKey

REALM = "LinkFleet API"
#: Unknown keys one client may send per window before its key lookups stop.
DEFAULT_AUTH_FAILURE_LIMIT = "10 per minute"
_BUDGET = "linkfleet.api_auth_failures"
_T = TypeVar("_T")


def _challenge(error: str | None = None, description: str | None = None, **params: str) -> str:
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    parts.extend(f'{name}="{value}"' for name, value in params.items())
    return "Bearer " + ", ".join(parts)


def authenticate(scope: str) -> ApiKey:
    """The request's key if it is valid and may act in ``scope``; else 401 or 403."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise ApiProblem(
            401,
            "Send an API key: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": _challenge()},
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiProblem(
            401,
            "Use the Bearer scheme: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": _challenge("invalid_request", "Bearer token expected")},
        )
    return authenticate_token(token, scope)


def authenticate_token(token: str, scope: str) -> ApiKey:
    """The key ``token`` stands for, checked against the client's failure budget and
    ``scope``; else 429, 401 or 403 (``ApiProblem``). Shared by every surface that takes a
    LinkFleet key, whatever header carries it, so that they spend one failure budget."""
    try:
        key = budgeted(lambda: find_active_key(token))
    except BudgetSpent as spent:
        raise ApiProblem(
            429,
            "Too many invalid API keys from this client; see Retry-After.",
            headers={"Retry-After": str(spent.retry_after)},
        ) from None
    if key is None:
        raise ApiProblem(
            401,
            "The API key is invalid or has been revoked.",
            headers={"WWW-Authenticate": _challenge("invalid_token", "Unknown or revoked key")},
        )
    if scope == "write" and not key.can_write:
        raise ApiProblem(
            403,
            "This API key is read-only; create a read-write key to change links.",
            headers={"WWW-Authenticate": _challenge("insufficient_scope", scope="write")},
        )
    touch(key, interval=float(current_app.config["API_KEY_TOUCH_INTERVAL"]))
    g.api_key = key
    g.api_user = key.owner
    return key


def budgeted(check: Callable[[], _T | None]) -> _T | None:
    """``check()`` (a credentials lookup: None when wrong) on this client's budget of failed
    authentications, which every surface spends from (:meth:`FailureBudget.attempt`)."""
    return failure_budget().attempt(link_cache.redis, client_key(), check)


def failure_budget() -> FailureBudget:
    """The app's budget of failed authentications per client (made on first use from
    ``API_AUTH_FAILURE_LIMIT``); the YOURLS surface spends from the same one."""
    extensions = current_app.extensions
    budget: FailureBudget | None = extensions.get(_BUDGET)
    if budget is None:
        limit = current_app.config.get("API_AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT)
        budget = extensions.setdefault(_BUDGET, FailureBudget("api-key", str(limit)))
    return budget


def current_key() -> ApiKey:
    """The key of the current API request (set by :func:`authenticate`)."""
    return g.api_key  # type: ignore[no-any-return]


def rate_limit_key() -> str:
    """Flask-Limiter's key: the API key's id (unauthenticated requests never get this far)."""
    key = g.get("api_key")
    return f"apikey:{key.id}" if key is not None else f"client:{client_key()}"


def _limit_for(scope: str) -> Callable[[], str]:
    setting = "API_WRITE_RATE_LIMIT" if scope == "write" else "API_READ_RATE_LIMIT"
    return lambda: str(current_app.config[setting])


def require_key(
    scope: str, authenticator: Callable[[str], ApiKey] = authenticate
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: authenticate with ``scope``, then spend from the key's ``scope`` budget.

    ``authenticator`` reads the request's credentials (another API surface passes its own
    header's reader); the budgets are the key's whichever surface it is used on.
    """
    if scope not in {"read", "write"}:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        limited = limiter.shared_limit(
            _limit_for(scope),
            scope=f"api-{scope}",
            key_func=rate_limit_key,
            error_message=f"Too many {scope} requests for this API key; see Retry-After.",
        )(view)

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticator(scope)
            return limited(*args, **kwargs)

        return wrapper

    return decorator


def add_ratelimit_headers(response: Response) -> Response:
    """``RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds) of the budget just spent."""
    current = limiter.current_limit
    if current is None or not current_app.config.get("RATELIMIT_HEADERS_ENABLED", True):
        return response
    try:
        response.headers["RateLimit-Limit"] = str(current.limit.amount)
        response.headers["RateLimit-Remaining"] = str(current.remaining)
        response.headers["RateLimit-Reset"] = str(max(0, int(current.reset_at - time.time())))
    except Exception as error:  # storage trouble must not turn a served request into a 500
        current_app.logger.warning("could not read the rate limit state: %s", error)
    return response
