"""The webhooks extension: link changes of an app are enqueued as deliveries."""

from __future__ import annotations

from flask import Flask

from .outbox import connect_signals


class Webhooks:
    """Connects the outbox to the link signals of each app (state: none beyond that)."""

    def init_app(self, app: Flask) -> None:
        connect_signals(app)
        app.extensions["linkfleet-webhooks"] = self
