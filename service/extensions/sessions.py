"""Server-side sessions in Redis, stored as JSON, so a login made on one replica holds on all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from flask import Flask, Request, Response, has_request_context
from flask import request as current_request
from flask_session.base import ServerSideSession
from flask_session.redis import RedisSessionInterface

from .redis_client import RedisClient


class ResilientRedisSessionInterface(RedisSessionInterface):  # type: ignore[misc]
    """Flask-Session's Redis interface that survives a Redis outage.

    Without this, a visitor with a session cookie gets a 500 before any view runs when Redis
    is down. Here the session opens empty (anonymous) and is never written back, so public
    pages and redirects keep working; views that need Redis answer 503 on their own.

    The cookie is ``Secure`` whenever the request came over HTTPS (nginx's
    ``X-Forwarded-Proto: https``, believed from the trusted proxy only, see gunicorn's
    ``forwarded_allow_ips``), and always when ``SESSION_COOKIE_SECURE`` is set. Plain-HTTP
    local setups keep working; behind TLS no setting can be forgotten.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and current_request.is_secure

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        try:
            return super().open_session(app, request)
        except redis.RedisError:
            app.logger.warning("Redis unavailable: serving the request without its session")
            session = self.session_class(sid=self._generate_sid(self.sid_length))
            session.unavailable = True
            return session

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if getattr(session, "unavailable", False):
            return  # never overwrite the stored session with the empty stand-in
        super().save_session(app, session, response)


class RedisSessions:
    """Installs Flask-Session's Redis interface on the app's shared Redis client.

    JSON, not pickle: a session blob read back from Redis can never execute code.
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
