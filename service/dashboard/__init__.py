"""The dashboard: server-rendered pages where users manage their links (no JS required)."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

from . import views  # noqa: E402, F401
