"""``X-Api-Key``: a LinkFleet API key checked like a Bearer key of ``/api/v1`` (the same
failure budget, scopes and per-key budgets), its refusals worded as Shlink's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from werkzeug.http import HTTP_STATUS_CODES

from ..api.auth import authenticate_token, require_key
from ..api.errors import ApiProblem
from ..api.models import ApiKey
from .errors import (
    INVALID_API_KEY,
    MISSING_AUTHENTICATION,
    ShlinkProblem,
)

#: Shlink's header; header names are case-insensitive, so ``X-API-KEY`` works too.
KEY_HEADER = "X-Api-Key"


def _authenticate(scope: str) -> ApiKey:
    """``X-Api-Key`` checked like a Bearer key of ``/api/v1`` (same failure budget, scopes),
    the refusals worded as Shlink's."""
    token = request.headers.get(KEY_HEADER, "").strip()
    if not token:
        raise ShlinkProblem(
            401,
            MISSING_AUTHENTICATION,
            "Invalid authorization",
            f'Expected one of the following authentication headers, ["{KEY_HEADER}"], '
            "but none were provided",
        )
    try:
        return authenticate_token(token, scope)
    except ApiProblem as problem:
        status = problem.code or 401
        if status == 401:
            raise ShlinkProblem(
                401,
                INVALID_API_KEY,
                "Invalid API key",
                "Provided API key does not exist or is invalid.",
            ) from None
        retry = {k: v for k, v in problem.extra_headers.items() if k == "Retry-After"}
        raise ShlinkProblem(
            status,
            "about:blank",
            HTTP_STATUS_CODES.get(status, "Error"),
            str(problem.description),
            headers=retry,
        ) from None


def with_key(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return require_key(scope, authenticator=_authenticate)
