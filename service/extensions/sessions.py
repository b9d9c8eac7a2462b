"""Server-side sessions in Redis, stored as JSON, so a login made on one replica holds on all.

A session is read from Redis only when a view touches it, and JSON is the only format ever
decoded: Flask-Session 0.8 falls back to ``pickle.loads`` for a blob that is not JSON, so a
value planted in Redis would run code. Here such a blob is refused, logged, and the request
goes on anonymous.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis
from flask import Flask, Request, Response, current_app, has_request_context
from flask import request as current_request
from flask.globals import request_ctx
from flask_login import LoginManager
from flask_session.redis import RedisSession, RedisSessionInterface

from .redis_client import RedisClient


class LazySession(RedisSession):  # type: ignore[misc]
    """A session whose data is fetched from Redis the first time anything touches it.

    Flask sets ``accessed`` on every use of the ``flask.session`` proxy (Flask 3.1's
    ``RequestContext.session``), and Flask-Session's dict methods set it too: that
    assignment is the hook that loads. A request that never touches the session (a
    redirect) costs no Redis command and gets no ``Set-Cookie``.
    """

    def __init__(
        self,
        sid: str,
        load: Callable[[LazySession], None] | None = None,
        permanent: bool | None = None,
    ) -> None:
        self._load = load
        self._accessed = False
        self.unavailable = False
        super().__init__(None, sid=sid, permanent=permanent)

    @property
    def accessed(self) -> bool:
        """True once something read or wrote the session during this request."""
        return self._accessed

    @accessed.setter
    def accessed(self, value: bool) -> None:
        if value and self._load is not None:
            load, self._load = self._load, None
            load(self)
        self._accessed = value


class ResilientRedisSessionInterface(RedisSessionInterface):  # type: ignore[misc]
    """Flask-Session's Redis interface, lazy, JSON-only and surviving a Redis outage.

    Without the outage handling, a visitor with a session cookie gets a 500 before any view
    runs when Redis is down. Here the session opens empty (anonymous) and is never written
    back, so public pages and redirects keep working; views that need Redis answer 503 on
    their own.

    The cookie is ``Secure`` whenever the request came over HTTPS (nginx's
    ``X-Forwarded-Proto: https``, believed from the trusted proxy only, see gunicorn's
    ``forwarded_allow_ips``), and always when ``SESSION_COOKIE_SECURE`` is set. Plain-HTTP
    local setups keep working; behind TLS no setting can be forgotten.
    """

    session_class = LazySession

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and current_request.is_secure

    def open_session(self, app: Flask, request: Request) -> LazySession:
        """No Redis here: with a cookie, the stored data is fetched on first access."""
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid:
            return LazySession(self._generate_sid(self.sid_length), permanent=self.permanent)
        return LazySession(sid, load=self._load)

    def _load(self, session: LazySession) -> None:
        """Fill ``session`` from Redis; unknown, refused or unreachable: a fresh anonymous one."""
        try:
            data = self._retrieve_session_data(self._get_store_id(session.sid))
        except redis.RedisError:
            current_app.logger.warning("Redis unavailable: serving the request without its session")
            session.unavailable = True
            data = None
        if data is None:
            session.sid = self._generate_sid(self.sid_length)
            data = {"_permanent": True} if self.permanent else {}
        for key, value in data.items():
            # The plain dict's method: loading is not a modification. A key written through
            # the object before it loaded (Flask-Session sets ``accessed`` after a write)
            # keeps the written value.
            dict.setdefault(session, key, value)

    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        """The stored session if it is a JSON object; anything else is refused undecoded."""
        raw = self.client.get(store_id)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:  # not UTF-8 or not JSON: a pickle, msgpack or garbage
            data = None
        if not isinstance(data, dict):
            current_app.logger.warning(
                "refused a stored session that is not a JSON object; serving the request "
                "as anonymous"
            )
            return None
        return data

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if not session.accessed:
            return  # never touched: no Redis command, no cookie, no refresh
        if session.unavailable:
            return  # never overwrite the stored session with the empty stand-in
        super().save_session(app, session, response)


def session_touched() -> bool:
    """Whether the current request has touched its session (so it is loaded), checked
    without touching it: Flask keeps the opened session in the request context's
    ``_session``, which its own ``process_response`` reads the same way."""
    opened = request_ctx._session
    return opened is not None and bool(opened.accessed)


class LazySessionLoginManager(LoginManager):  # type: ignore[misc]
    """Flask-Login, whose remember-cookie hook leaves an untouched session alone.

    Flask-Login's ``after_request`` hook reads ``session`` on every response, which would
    load the session from Redis on every redirect. Its work (setting or clearing the
    remember cookie) only ever follows a login or a logout, which touch the session, so an
    untouched session has nothing for it to do.
    """

    def _update_remember_cookie(self, response: Response) -> Response:
        if not session_touched():
            return response
        result: Response = super()._update_remember_cookie(response)
        return result


class RedisSessions:
    """Installs Flask-Session's Redis interface on the app's shared Redis client.

    Only JSON is ever decoded, so a session blob read back from Redis can never execute
    code (see :class:`ResilientRedisSessionInterface`).
    Config keys read: ``PERMANENT_SESSION_LIFETIME``, ``SESSION_COOKIE_*`` (Flask's own),
    ``SESSION_KEY_PREFIX``.
    """

    extension_name = "linkfleet.sessions"

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.extension_name in app.extensions:
            raise RuntimeError("RedisSessions is already registered on this app")
        if RedisClient.extension_name not in app.extensions:
            raise RuntimeError("register RedisClient before RedisSessions")
        app.config.setdefault("SESSION_KEY_PREFIX", "linkfleet:session:")
        # Flask predefines these keys, so setdefault would never apply ours: replace
        # Flask's defaults, keep anything configured on purpose.
        if app.config["SESSION_COOKIE_NAME"] == "session":
            app.config["SESSION_COOKIE_NAME"] = "linkfleet_session"
        if app.config["SESSION_COOKIE_SAMESITE"] is None:
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
        app.config["SESSION_COOKIE_HTTPONLY"] = True
        lifetime = app.config.get("PERMANENT_SESSION_LIFETIME", 14 * 86400)
        if not isinstance(lifetime, timedelta):
            app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=int(lifetime))
        interface = ResilientRedisSessionInterface(
            app,
            client=RedisClient.for_app(app),
            key_prefix=app.config["SESSION_KEY_PREFIX"],
            serialization_format="json",
        )
        app.session_interface = interface
        app.extensions[self.extension_name] = interface
