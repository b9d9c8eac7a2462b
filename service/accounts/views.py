"""Sign-up, login, logout and password change.

Login and sign-up are rate limited per client address in Redis, so the budget is shared
by every replica. Login failures all read the same, whether or not the email exists.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from ..extensions import limiter
from . import bp
from .auth import end_session, login_required, safe_next_url, start_session
from .forms import ChangePasswordForm, LoginForm, SignupForm
from .services import AccountError, authenticate, change_password, create_user

#: Per client address; POSTs only, so showing the form costs nothing.
LOGIN_LIMIT = "10 per minute"
SIGNUP_LIMIT = "5 per hour"

Page = str | tuple[str, int] | BaseResponse


def _signup_open() -> bool:
    return bool(current_app.config.get("SIGNUP_OPEN", True))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(
    SIGNUP_LIMIT,
    methods=["POST"],
    error_message="Too many sign-ups from your address. Please try again later.",
)
def signup() -> Page:
    """Create an account, then log in; a friendly 403 page when sign-up is closed."""
    if not _signup_open():
        return render_template("accounts/signup_closed.html"), 403
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            create_user(form.email.data, form.password.data)
        except AccountError as error:
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            flash("Your account is ready. Please log in.", "success")
            return redirect(url_for("accounts.login", email=form.email.data))
    status = 422 if form.errors else 200
    return render_template("accounts/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    LOGIN_LIMIT,
    methods=["POST"],
    error_message="Too many login attempts from your address. Please wait a minute.",
)
def login() -> Page:
    """Log in and go to ``next`` (a path on this site only) or the dashboard."""
    target = safe_next_url(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target)
    form = LoginForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"]
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            start_session(user)
            flash("You are logged in.", "success")
            return redirect(target)
        form.form_errors.append("Invalid email or password.")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Page:
    """POST (with CSRF) logs out; GET only shows a button, so a link cannot log anyone out."""
    if request.method == "GET":
        return render_template("accounts/logout.html")
    end_session("You are logged out.")
    return redirect(url_for("pages.index"))


@bp.route("/account/password", methods=["GET", "POST"], endpoint="password")
@login_required
def change_password_view() -> Page:
    """Change the password; other sessions of the user stop working, this one gets a new id."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            change_password(user, form.current_password.data, form.new_password.data)
        except AccountError as error:
            getattr(form, error.field or "new_password").errors.append(error.message)
        else:
            start_session(user)
            flash("Your password was changed.", "success")
            return redirect(url_for("dashboard.index"))
    status = 422 if form.errors else 200
    return render_template("accounts/password.html", form=form), status
