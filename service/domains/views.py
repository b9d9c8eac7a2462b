"""The host gate of every request, and the administrators' page ``/dashboard/domains``.

The gate (an app-wide ``before_request``; the redirect lane has its own dict lookup) answers
what the ``Host`` alone decides: a host that is no domain of this service gets the 404 page
for every path but the health and metrics routes (no open relay); an added domain serves
only its short links (their redirect, password form and preview), their ``robots.txt``, the
static files their pages use (as Shlink's extra domains do) and Shlink's health check,
``GET /`` going to its ``root_redirect``; the default domain serves everything, the
dashboard and API included.

The page lists the domains and adds, edits and removes them (administrators only; others
get 403). A removal of a domain with links is refused with the reason on the page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import Forbidden, NotFound
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from ..accounts.auth import login_required
from ..analytics.orphans import ORPHAN_MARK
from ..extensions import db
from ..links.errors import LinkError
from ..links.views import fallback
from . import services
from .registry import domain_for

bp = Blueprint("domains", __name__, url_prefix="/dashboard")

UNKNOWN_HOST = "This address is not served here: the host name is not a domain of this service."
ONLY_LINKS = "This domain serves short links only."
ADMINS_ONLY = "Domains are managed by administrators only."
#: Endpoints every host may reach: probes and Prometheus come by address, not by name.
OPEN_BLUEPRINTS = frozenset({"ops"})
#: What an added domain serves: the redirect, the password form of protected links and the
#: ``/<slug>+`` preview, and the robots rules of its links.
LINK_BLUEPRINTS = frozenset({"redirect", "redirect.password", "preview", "robots"})
#: Single endpoints an added domain serves besides: the static files of those pages, and
#: Shlink's health check, which Shlink's clients call on every domain they were given.
LINK_ENDPOINTS = frozenset({"static", "shlink.health"})


@bp.before_app_request
def host_gate() -> None:
    """Refuse unknown hosts; keep added domains to their links (see the module docstring)."""
    if request.blueprint in OPEN_BLUEPRINTS:
        return
    domain = domain_for(request.environ.get("HTTP_HOST", ""))
    if domain is None:
        request.environ[ORPHAN_MARK] = "regular_404"
        raise NotFound(UNKNOWN_HOST)
    if (
        domain.is_default
        or request.blueprint in LINK_BLUEPRINTS
        or request.endpoint in LINK_ENDPOINTS
    ):
        return
    if request.path == "/":
        request.environ[ORPHAN_MARK] = "base_url"  # Shlink's name for a domain's root
        fallback(domain.root_redirect)
    else:
        request.environ[ORPHAN_MARK] = "regular_404"
    raise NotFound(ONLY_LINKS)


class DomainForm(FlaskForm):  # type: ignore[misc]
    """A domain's host (when adding) and its fallback redirects."""

    host = StringField(
        "Host",
        validators=[DataRequired(), Length(max=300)],
        description="As visitors type it: go.example.com, or go.example.com:8443.",
    )
    root_redirect = StringField(
        "Root redirect", validators=[Optional()], description="Where / on this domain leads."
    )
    not_found_redirect = StringField(
        "Not-found redirect",
        validators=[Optional()],
        description="Where an unknown short name on this domain leads.",
    )
    expired_redirect = StringField(
        "Expired redirect",
        validators=[Optional()],
        description="Where an expired, used-up or disabled link on this domain leads.",
    )


def _admin() -> None:
    if not current_user.is_admin:
        raise Forbidden(ADMINS_ONLY)


def _fallbacks(form: DomainForm) -> dict[str, str | None]:
    return {name: getattr(form, name).data or None for name in services.FALLBACKS}


def _show_errors(form: DomainForm, error: LinkError) -> None:
    for name, message in error.errors.items():
        getattr(form, name, form.host).errors = [message]


@bp.route("/domains", methods=["GET", "POST"])
@login_required
def admin_page() -> tuple[str, int] | Response:
    """Every domain with its fallbacks and link count; the form adds one."""
    _admin()
    form = DomainForm()
    status = 200
    if form.validate_on_submit():
        try:
            domain = services.add_domain(form.host.data, **_fallbacks(form))
        except LinkError as error:
            db.session.rollback()
            _show_errors(form, error)
            status = error.status
        else:
            flash(f"Added the domain {domain.host}.", "success")
            return redirect(url_for("domains.admin_page"))
    elif form.errors:
        status = 422
    return _page(form, status=status)


@bp.route("/domains/<host>", methods=["POST"])
@login_required
def edit(host: str) -> tuple[str, int] | Response:
    """Change a domain's fallbacks (``action=save``) or remove it (``action=remove``)."""
    _admin()
    try:
        domain = services.get_domain(host)
    except LinkError:
        raise NotFound("There is no such domain.") from None
    form = DomainForm(data={"host": domain.host} | request.form.to_dict())
    if not form.validate_on_submit():
        return _page(DomainForm(formdata=None), status=422, edit_errors={host: form.errors})
    try:
        if request.form.get("action") == "remove":
            services.remove_domain(domain)
            flash(f"Removed the domain {host}.", "success")
        else:
            services.set_redirects(domain, **_fallbacks(form))
            flash(f"Saved the domain {domain.host}.", "success")
    except LinkError as error:
        db.session.rollback()
        return _page(
            DomainForm(formdata=None), status=error.status, edit_errors={host: error.errors}
        )
    return redirect(url_for("domains.admin_page"))


def _page(
    form: DomainForm, *, status: int, edit_errors: dict[str, Any] | None = None
) -> tuple[str, int]:
    domains = [(domain, services.link_count(domain)) for domain in services.list_domains()]
    html = render_template(
        "domains/admin.html",
        form=form,
        domains=domains,
        fallbacks=services.FALLBACKS,
        edit_errors=edit_errors or {},
    )
    return html, status


__all__ = ["bp", "domain_for", "host_gate"]
