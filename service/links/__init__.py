"""Short links: models, slugs, target validation and the redirect hot path."""

from flask import Blueprint

#: ``GET|HEAD /<slug>`` and the password form; registered last, after every other route.
bp = Blueprint("redirect", __name__)

from . import views  # noqa: E402, F401
