"""REST API v1 (flask-smorest + marshmallow), API keys, OpenAPI docs, import and export.

:func:`init_api` is what ``create_app`` calls; it builds one :class:`~.core.LinkFleetApi` per
app (flask-smorest keeps it in ``app.extensions["flask-smorest"]``) and registers:

* ``/api/v1/...`` — the REST API (:mod:`.links`, :mod:`.transfer`, :mod:`.webhooks`,
  :mod:`.visits`),
  Bearer-key auth;
* ``/api/openapi.json`` and ``/api/docs`` — the spec and Swagger UI from local files (:mod:`.docs`);
* ``/dashboard/api-keys`` and ``/dashboard/import-export`` — the pages (:mod:`.keys_views`).

Nothing is imported at module level beyond this docstring, so that ``service.models`` can
import :mod:`.models` without pulling the API machinery in.
"""

from __future__ import annotations

from flask import Flask


def init_api(app: Flask) -> None:
    """Register the API, its docs and its dashboard pages on ``app``.

    Config keys read (defaults in :func:`.core.api_config_defaults`): ``API_READ_RATE_LIMIT``,
    ``API_WRITE_RATE_LIMIT``, ``API_JSON_MAX_BYTES``, ``API_IMPORT_MAX_BYTES``,
    ``API_IMPORT_BATCH_SIZE``, ``API_IDEMPOTENCY_TTL``, ``API_IDEMPOTENCY_WAIT``,
    ``API_KEY_TOUCH_INTERVAL``, plus flask-smorest's ``API_TITLE``, ``API_VERSION``,
    ``OPENAPI_*``.
    """
    from ..extensions import csrf
    from .core import LinkFleetApi, api_config_defaults
    from .docs import bp as docs_bp
    from .domains import bp as domains_bp
    from .keys_views import bp as pages_bp
    from .links import bp as links_bp
    from .transfer import bp as transfer_bp
    from .visits import bp as visits_bp
    from .webhooks import bp as webhooks_bp

    for key, value in api_config_defaults().items():
        app.config.setdefault(key, value)
    api = LinkFleetApi(app)
    # Bearer keys, never cookies: cross-site request forgery has nothing to ride on.
    csrf.exempt(links_bp)
    csrf.exempt(transfer_bp)
    csrf.exempt(webhooks_bp)
    csrf.exempt(visits_bp)
    csrf.exempt(domains_bp)
    api.register_blueprint(transfer_bp)  # /links/import|export before /links/<slug>
    api.register_blueprint(links_bp)
    api.register_blueprint(webhooks_bp)
    api.register_blueprint(visits_bp)
    api.register_blueprint(domains_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(pages_bp)
