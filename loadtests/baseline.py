"""The yardstick of the redirect: a bare Flask app (two routes, no extensions).

``make bench`` runs it with exactly the replica's gunicorn settings (``deploy/gunicorn.conf.py``
with ``wsgi_app`` pointed here) behind the same nginx.conf, so ``redirect_vs_bare_flask`` in
``summary.json`` divides LinkFleet's cached redirect by what Flask itself costs on this stack.
"""

from __future__ import annotations

from flask import Flask, redirect
from werkzeug.wrappers import Response

#: Where the bare redirect points (a fixed URL: the bare app has no links to look up).
TARGET = "https://example.org/articles/bare"


def create_app() -> Flask:
    """The bare app: ``GET /r`` answers 302, ``GET /hello`` answers text."""
    app = Flask(__name__)

    @app.get("/r")
    def bare_redirect() -> Response:
        return redirect(TARGET, 302)

    @app.get("/hello")
    def hello() -> str:
        return "Hello, World!"

    return app
