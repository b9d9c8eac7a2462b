"""LinkFleet: a short-link service built from small Flask extensions and blueprints.

:func:`create_app` is the only entry point; nothing runs or connects at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .app import LinkFleet
from .config import build_config


def create_app(config: Mapping[str, Any] | None = None) -> LinkFleet:
    """Build one app: settings from ``LINKFLEET_*`` env vars, then ``config`` overrides."""
    app = LinkFleet(__name__)
    app.config.update(build_config(config))
    register_response_stamp(app)
    register_extensions(app)
    register_blueprints(app)
    register_hook_scopes(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_response_stamp(app: LinkFleet) -> None:
    """The fleet headers on every response: registered first, so that it runs last."""
    from .app import stamp_response

    app.after_request(stamp_response)


def register_extensions(app: LinkFleet) -> None:
    """Every extension of :func:`.extensions.ordered`, in that order; remembered on the app
    so that :meth:`LinkFleet.shutdown` stops them in reverse."""
    from .extensions import ordered

    registered = ordered()
    for extension in registered:
        extension.init_app(app)
    app.registered_extensions = registered


def register_blueprints(app: LinkFleet) -> None:
    """Every feature's blueprint; the redirect catch-all ``/<slug>`` comes last."""
    from .accounts import bp as accounts_bp
    from .analytics import bp as analytics_bp
    from .api import init_api
    from .dashboard import bp as dashboard_bp
    from .domains.views import bp as domains_bp
    from .kutt import bp as kutt_bp
    from .links import bp as redirect_bp
    from .links.preview import bp as preview_bp
    from .links.robots import bp as robots_bp
    from .migrate.views import bp as migrate_bp
    from .ops import bp as ops_bp
    from .pages import bp as pages_bp
    from .shlink import bp as shlink_bp
    from .webhooks.views import bp as webhooks_bp
    from .yourls import bp as yourls_bp

    app.register_blueprint(ops_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(domains_bp)  # /dashboard/domains and the host gate of every request
    app.register_blueprint(analytics_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(migrate_bp)  # /dashboard/migrate
    init_api(app)  # /api/v1, /api/openapi.json, /api/docs and the API dashboard pages
    app.register_blueprint(yourls_bp)  # /yourls-api.php
    app.register_blueprint(kutt_bp)  # Kutt API v2 at /api/v2
    app.register_blueprint(shlink_bp)  # Shlink REST API v3 at /rest
    app.register_blueprint(preview_bp)  # /<slug>+, the link preview
    app.register_blueprint(robots_bp)  # /robots.txt: the crawlable links of each domain
    app.register_blueprint(redirect_bp)  # the /<slug> catch-all: always last


#: The blueprints whose views log in and out (Flask-Login's remember-cookie hook runs there).
LOGIN_BLUEPRINTS = ("accounts",)
#: Blueprints whose views apply rate limits inside, not as a view decorator (the YOURLS API
#: picks the read or write budget by action): Flask-Limiter's headers hook runs there too.
LIMITED_INSIDE_BLUEPRINTS = ("yourls",)


def register_hook_scopes(app: LinkFleet) -> None:
    """CSRF, rate-limit and login hooks only on the blueprints with forms, limits and logins
    (:mod:`.extensions.scoping`): the redirect's blueprint runs none of them."""
    from .extensions import csrf, limiter, login_manager
    from .extensions.scoping import scope_request_hooks

    app.extensions["linkfleet.hook_scopes"] = scope_request_hooks(
        app,
        csrf=csrf,
        limiter=limiter,
        login_manager=login_manager,
        logins=LOGIN_BLUEPRINTS,
        limited_inside=LIMITED_INSIDE_BLUEPRINTS,
    )


def register_errorhandlers(app: LinkFleet) -> None:
    """Friendly pages and problem+json instead of tracebacks."""
    from .errors import register_errorhandlers as install

    install(app)


def register_commands(app: LinkFleet) -> None:
    """App-bound CLI commands (``linkfleet db``, Flask-Migrate's, comes with the database
    extension). The ``linkfleet`` group itself (``service/cli.py``) builds the app; the app
    never imports it."""
    from .accounts.commands import user_cli
    from .analytics.commands import worker_command
    from .api.commands import apikey_cli
    from .domains.commands import domains_cli
    from .migrate.commands import migrate_cli
    from .yourls.commands import yourls_cli

    app.cli.add_command(user_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(apikey_cli)
    app.cli.add_command(domains_cli)
    app.cli.add_command(yourls_cli)
    app.cli.add_command(migrate_cli)
