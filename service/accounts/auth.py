"""Flask-Login on the Redis sessions: loading users, starting and ending sessions, ``next=``.

Session fixation and replay are handled here: the session id is regenerated at login and
at password change, and logout deletes the server-side session before issuing a new id.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import flask_login
from flask import Flask, current_app, flash, session, url_for
from flask_login import LoginManager, login_user, logout_user

from ..extensions import db
from .models import User

View = TypeVar("View", bound=Callable[..., Any])


def login_required(view: View) -> View:
    """Flask-Login's decorator, typed: anonymous visitors go to the login page with ``next``."""
    return cast(View, flask_login.login_required(view))


def load_user(user_id: str) -> User | None:
    """Flask-Login's user loader: ``"<id>:<session token>"`` as made by :meth:`User.get_id`."""
    raw_id, _, token = user_id.partition(":")
    try:
        key = int(raw_id)
    except ValueError:
        return None
    user = db.session.get(User, key)
    if user is None or not hmac.compare_digest(user.session_token, token):
        return None
    return user


def init_login(login_manager: LoginManager, app: Flask) -> None:
    """Configure and register Flask-Login; the dashboard's login page is ``accounts.login``."""
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please log in to see this page."
    login_manager.login_message_category = "info"
    login_manager.user_loader(load_user)
    login_manager.init_app(app)


def _regenerate_session_id() -> None:
    """A new session id for the current (non-empty) session; the old one is deleted in Redis."""
    interface: Any = current_app.session_interface
    interface.regenerate(session._get_current_object())  # type: ignore[attr-defined]


def start_session(user: User) -> None:
    """Log ``user`` in with a fresh session id and a fresh CSRF token (no fixation)."""
    session.pop("csrf_token", None)
    login_user(user)
    _regenerate_session_id()


def end_session(message: str) -> None:
    """Log out and destroy the server-side session; only ``message`` survives, under a new id."""
    logout_user()
    session.clear()
    flash(message, "info")
    _regenerate_session_id()


def safe_next_url(target: str | None, default: str | None = None) -> str:
    """``target`` if it is a path on this host, else ``default`` (the dashboard).

    Refused: absolute and scheme-relative URLs (``//evil``), backslashes (browsers read
    ``/\\evil`` as ``//evil``), control characters and anything not starting with ``/``.
    """
    fallback = default or url_for("dashboard.index")
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target
