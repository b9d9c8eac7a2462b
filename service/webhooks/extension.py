"""The webhooks extension: link changes are written as deliveries in their own transaction."""

from __future__ import annotations

from flask import Flask

from .outbox import connect_session_events


class Webhooks:
    """Hooks the outbox into the database sessions (state: none beyond that)."""

    def init_app(self, app: Flask) -> None:
        connect_session_events()
        app.extensions["linkfleet-webhooks"] = self
