"""JSON log lines that carry the request id and the replica, so one request can be followed
from nginx's access log through any replica's log."""

from __future__ import annotations

import logging
import sys

from flask import Flask, has_request_context, request
from pythonjsonlogger.json import JsonFormatter


class _RequestContextFilter(logging.Filter):
    """Adds ``request_id``, ``replica``, ``method`` and ``path`` to every record; never the
    client's address (docs/PRIVACY.md: no raw client address in any log)."""

    def __init__(self, replica: str) -> None:
        super().__init__()
        self.replica = replica

    def filter(self, record: logging.LogRecord) -> bool:
        record.replica = self.replica
        if has_request_context():
            record.request_id = request.request_id  # type: ignore[attr-defined]
            record.method = request.method
            record.path = request.path
        return True


class JsonLogging:
    """Sends the app's log records to stderr as JSON (gunicorn/supervisord collect stderr).

    Config keys read: ``LOG_LEVEL``, ``REPLICA_NAME``.
    """

    extension_name = "linkfleet.logging"

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.extension_name in app.extensions:
            raise RuntimeError("JsonLogging is already registered on this app")
        app.config.setdefault("LOG_LEVEL", "INFO")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
        handler.addFilter(_RequestContextFilter(app.config["REPLICA_NAME"]))
        app.logger.handlers[:] = [handler]
        app.logger.setLevel(app.config["LOG_LEVEL"])
        app.logger.propagate = False
        app.extensions[self.extension_name] = handler
