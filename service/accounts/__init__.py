"""User accounts: sign-up, login/logout on the Redis sessions, passwords."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from . import views  # noqa: E402, F401
