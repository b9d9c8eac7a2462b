"""Public pages that are not part of a feature: the landing page."""

from flask import Blueprint

bp = Blueprint("pages", __name__)

from . import views  # noqa: E402, F401
