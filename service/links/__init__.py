"""Short links: models, slugs, target validation and the redirect hot path."""

from flask import Blueprint

#: ``GET|HEAD /<slug>``; registered last, after every other route. It has no form and no
#: rate limit, so no CSRF or limiter hook runs for it (:mod:`service.extensions.scoping`).
bp = Blueprint("redirect", __name__)
#: ``POST /<slug>``, the password form of protected links (``redirect.password.unlock``):
#: nested, so that its CSRF and rate-limit hooks stay off the redirect itself.
password_bp = Blueprint("password", __name__)

from . import views  # noqa: E402, F401

bp.register_blueprint(password_bp)
