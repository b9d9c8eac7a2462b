"""The YOURLS API (``/yourls-api.php``) over LinkFleet's links, for the clients that speak it
(ShareX, browser extensions, WordPress plugins, the PyPI ``yourls`` and ``pyourls3``).

One blueprint, no state of its own: authentication (:mod:`.auth`), the actions over the
links service and read side (:mod:`.actions`), the output formats (:mod:`.output`), the
endpoint (:mod:`.views`) and ``linkfleet yourls token`` (:mod:`.commands`). What is
supported and refused: docs/YOURLS.md.

Config keys (defaults set when the blueprint is registered): ``YOURLS_NONCE_LIFE`` (seconds
a signed timestamp stays valid, 43200 as in YOURLS), ``YOURLS_UNIQUE_URLS`` (True: a URL
the caller already shortened is ``error:url``, as in YOURLS).
"""

from __future__ import annotations

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from ..extensions import csrf
from .auth import DEFAULT_NONCE_LIFE
from .views import api, http_error, unexpected_error

bp = Blueprint("yourls", __name__)
bp.add_url_rule("/yourls-api.php", view_func=api, methods=["GET", "POST"])
bp.register_error_handler(HTTPException, http_error)
bp.register_error_handler(Exception, unexpected_error)
# Signed parameters, never cookies: cross-site request forgery has nothing to ride on.
csrf.exempt(bp)


@bp.record_once
def _defaults(state: BlueprintSetupState) -> None:
    state.app.config.setdefault("YOURLS_NONCE_LIFE", DEFAULT_NONCE_LIFE)
    state.app.config.setdefault("YOURLS_UNIQUE_URLS", True)


__all__ = ["bp"]
