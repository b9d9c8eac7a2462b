"""The landing page at ``/``."""

from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/")
def index() -> str:
    """What LinkFleet is and where to go next."""
    return render_template("pages/index.html")
