"""Request hooks where their features live: CSRF, rate limits and logins per blueprint.

Flask-WTF, Flask-Limiter and Flask-Login each register app-wide hooks in ``init_app``, so
every request ran them, a redirect that misses the redirect lane included, although only
forms need CSRF, only limited views need the limiter's after-request (its headers and
``deduct_when``) and teardown, and only logins and logouts set or clear the remember cookie.
:func:`scope_request_hooks` runs once every blueprint is registered and moves each hook to
the blueprints that need it:

* CSRF: every blueprint with a route accepting one of ``WTF_CSRF_METHODS`` that is not
  exempt (the API authenticates by key). Derived from the routes, so a new form is protected
  without anyone remembering to; a route outside any blueprint keeps the hook app-wide.
* Flask-Limiter: the blueprints of the views decorated with ``@limiter.limit``; a limited
  view outside any blueprint, or a limiter without the registry read here, keeps the hooks
  app-wide.
* Flask-Login's remember-cookie hook: the blueprints named by ``logins`` (where
  ``login_user``/``logout_user`` are called).

What is left app-wide: the fleet headers, the metrics timer and the analytics start-up, which
every response needs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name
from flask_login import LoginManager
from flask_wtf import CSRFProtect

HookMap = dict[str | None, list[Callable[..., Any]]]


def _take(hooks: HookMap, wanted: Callable[[Callable[..., Any]], bool]) -> list[Any]:
    """Remove from the app-wide hooks those ``wanted`` picks; return them in order."""
    app_wide = hooks.get(None, [])
    taken = [hook for hook in app_wide if wanted(hook)]
    hooks[None] = [hook for hook in app_wide if not wanted(hook)]
    return taken


def _give(hooks: HookMap, blueprints: Iterable[str | None], taken: list[Any]) -> None:
    """Put ``taken`` first in each blueprint's hooks: before a blueprint's own
    ``before_request`` hooks, and (Flask runs after-request and teardown hooks last
    registered first) after its own ``after_request`` and teardown hooks, as when they
    were app-wide."""
    for name in set(blueprints):
        hooks[name] = [*taken, *hooks.get(name, [])]


def _views_by_blueprint(app: Flask) -> dict[str | None, list[tuple[str, set[str]]]]:
    """``blueprint -> [(endpoint, methods)]`` from the URL map (None: no blueprint)."""
    found: dict[str | None, list[tuple[str, set[str]]]] = defaultdict(list)
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        blueprint = endpoint.rpartition(".")[0] or None
        found[blueprint].append((endpoint, set(rule.methods or ())))
    return found


def _owner(owner: object) -> Callable[[Callable[..., Any]], bool]:
    """Picks a hook that is ``owner``'s bound method, or a partial bound to ``owner``."""

    def wanted(hook: Callable[..., Any]) -> bool:
        if getattr(hook, "__self__", None) is owner:
            return True
        return owner in getattr(hook, "args", ())

    return wanted


def scope_request_hooks(
    app: Flask,
    *,
    csrf: CSRFProtect,
    limiter: Limiter,
    login_manager: LoginManager,
    logins: Iterable[str],
) -> dict[str, list[str | None]]:
    """Move the three extensions' app-wide hooks onto the blueprints that need them (see the
    module docstring); returns where each went (the tests read it)."""
    views = _views_by_blueprint(app)
    placed: dict[str, list[str | None]] = {}

    methods = set(app.config.get("WTF_CSRF_METHODS", ()))
    exempt = {bp.name for bp in getattr(csrf, "_exempt_blueprints", ())}
    forms = [
        name
        for name, rules in views.items()
        if name not in exempt and any(allowed & methods for _, allowed in rules)
    ]
    taken = _take(app.before_request_funcs, _is_csrf_hook)
    if taken:
        _give(app.before_request_funcs, forms, taken)
        placed["csrf"] = sorted(forms, key=str)

    marked = getattr(limiter, "_marked_for_limiting", None)
    if marked is not None:
        limited = {
            endpoint.rpartition(".")[0] or None
            for endpoint, view in app.view_functions.items()
            if get_qualified_name(view) in marked
        }
        wanted = _owner(limiter)
        after = _take(app.after_request_funcs, wanted)
        teardown = _take(app.teardown_request_funcs, wanted)
        _give(app.after_request_funcs, limited, after)
        _give(app.teardown_request_funcs, limited, teardown)
        placed["limiter"] = sorted(limited, key=str)

    logins = list(logins)
    taken = _take(app.after_request_funcs, _owner(login_manager))
    _give(app.after_request_funcs, logins, taken)
    placed["login"] = [*sorted(logins)]
    return placed


def _is_csrf_hook(hook: Callable[..., Any]) -> bool:
    """Flask-WTF's ``csrf_protect`` closure (the only hook it registers)."""
    return getattr(hook, "__qualname__", "") == "CSRFProtect.init_app.<locals>.csrf_protect"
