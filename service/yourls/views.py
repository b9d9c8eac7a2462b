"""``/yourls-api.php``, GET and POST: authenticate, run the action, render the result.

Parameters are read like PHP's ``$_REQUEST``: the query string, then the form body, the
body winning; the last of repeated names wins. Authentication comes before the action, as
in YOURLS (an unknown action without credentials is a 403). A key's requests spend from its
REST API budgets (``API_READ_RATE_LIMIT``, ``API_WRITE_RATE_LIMIT``: the same counters, so
this surface is no way around them); a password login spends from a budget of its account.
Every error, malformed bodies included, leaves in the requested format, never as a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from ..extensions import db, limiter
from . import actions
from .auth import AuthFailed, Caller, authenticate
from .output import render

Action = Callable[[Caller, Mapping[str, str]], actions.Result]
Runner = Callable[[Action, Caller, Mapping[str, str]], actions.Result]


def request_params() -> dict[str, str]:
    """``$_REQUEST``: query arguments overridden by form fields, one value per name."""
    params = {name: values[-1] for name, values in request.args.lists()}
    if request.method == "POST":
        params.update({name: values[-1] for name, values in request.form.lists()})
    return params


def _rate_limit_key() -> str:
    """The key's own budget (shared with the REST API), else the account's."""
    caller: Caller = g.yourls_caller
    return f"apikey:{caller.key.id}" if caller.key is not None else f"user:{caller.user.id}"


def _budget(setting: str, scope: str) -> Callable[[Runner], Runner]:
    return limiter.shared_limit(
        lambda: str(current_app.config[setting]),
        scope=f"api-{scope}",
        key_func=_rate_limit_key,
        error_message=f"Too many {scope} requests for this API key; see Retry-After.",
    )


@_budget("API_READ_RATE_LIMIT", "read")
def _run_read(action: Action, caller: Caller, params: Mapping[str, str]) -> actions.Result:
    return action(caller, params)


@_budget("API_WRITE_RATE_LIMIT", "write")
def _run_write(action: Action, caller: Caller, params: Mapping[str, str]) -> actions.Result:
    return action(caller, params)


def api() -> Response:
    """The whole of ``yourls-api.php``."""
    request.max_content_length = int(current_app.config["API_JSON_MAX_BYTES"])
    params = request_params()
    callback = params.get("callback", "")
    mode = params.get("format", "xml")
    try:
        caller = authenticate(params)
    except AuthFailed as failure:
        return _auth_failure(mode, failure, callback)
    g.yourls_caller = caller
    name = params.get("action", "")
    action = actions.ACTIONS.get(name)
    if action is None:
        result = actions.unknown_action()
    elif name in actions.WRITING_ACTIONS:
        result = _run_write(action, caller, params)
    else:
        result = _run_read(action, caller, params)
    if "callback" in params:
        result["callback"] = params["callback"]
    elif "jsonp" in params:
        result["callback"] = params["jsonp"]
    return render(mode, result)


def _auth_failure(mode: str, failure: AuthFailed, callback: str) -> Response:
    """YOURLS' 403 (``auth.php``); 429 with ``Retry-After`` once the client's budget is spent."""
    status = "429" if failure.retry_after else "403"
    response = render(
        mode,
        {
            "simple": failure.message,
            "message": failure.message,
            "errorCode": status,
            "callback": callback,
        },
    )
    if failure.retry_after:
        response.headers["Retry-After"] = str(failure.retry_after)
    return response


def http_error(error: HTTPException) -> Response:
    """An HTTP error met on the way (a body too large or unreadable, a spent rate limit) in
    YOURLS' shape, in the format the query string asked for."""
    db.session.rollback()
    status = error.code or 500
    message = error.description or error.name
    response = render(
        request.args.get("format", "xml"),
        {"simple": message, "message": message, "errorCode": str(status)},
    )
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def unexpected_error(error: Exception) -> Any:
    """Outages are the app's 503; anything else is logged and answered as YOURLS' 500."""
    from ..errors import DEPENDENCY_ERRORS, handle_dependency_down

    if isinstance(error, DEPENDENCY_ERRORS):
        return handle_dependency_down(error)
    current_app.logger.exception("unhandled error in the YOURLS API", exc_info=error)
    db.session.rollback()
    message = "Internal error; quote the X-Request-ID."
    return render(
        request.args.get("format", "xml"),
        {"simple": message, "message": message, "errorCode": "500"},
    )
