"""The dashboard: list, search, filter, paginate, create, edit and delete links.

Every core action is a plain link or form, so the pages work without JavaScript; the scripts
only add to them: ``static/dashboard.js`` "copy" buttons, ``static/utm-builder.js`` the link
form's UTM builder (which writes into the URL field, the one that is submitted).
Authorization is the links service's: :func:`visible_links` and :func:`get_link_for` only
ever return what the user may see (own links, admins all) and answer 404 otherwise, so
other users' links cannot be probed.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from ..accounts.auth import login_required
from ..extensions import db, limiter
from ..links import queries
from ..links.fields import FIELDS, FORM_FIELDS, KEEP
from ..links.models import Link
from ..links.queries import SORTS, short_url
from ..links.rules import RULE_EDITOR
from ..links.services import LinkError, create_link, delete_link, get_link_for, update_link
from . import bp
from .forms import DeleteForm, LinkForm, form_rows

Page = str | tuple[str, int] | BaseResponse

PER_PAGE_CHOICES = (10, 20, 50, 100)
DEFAULT_PER_PAGE = 20
MAX_QUERY_LENGTH = 200

#: Form fields the links service may name in ``LinkError.errors``.
LINK_FIELDS = tuple(spec.name for spec in FORM_FIELDS)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    """Config keys read: ``DASHBOARD_CREATE_RATE_LIMIT`` (links a user may create per period
    through the form; kept in Redis, so every replica spends from the same budget)."""
    state.app.config.setdefault("DASHBOARD_CREATE_RATE_LIMIT", "30 per minute")


def _create_rate_limit() -> str:
    return str(current_app.config["DASHBOARD_CREATE_RATE_LIMIT"])


def _per_user() -> str:
    """One budget per account, whichever address or replica the requests come from."""
    return f"user:{current_user.id}"


def _link_was_created(response: BaseResponse) -> bool:
    return response.status_code == 302


def qr_svg(url: str) -> Markup:
    """An inline SVG QR code (no inline style: CSP-safe), scaled by CSS."""
    svg = segno.make_qr(url, error="m").svg_inline(
        scale=1, border=4, omitsize=True, svgclass="qr", lineclass="qr-line", dark="#1d2433"
    )
    # segno's own markup; the URL is encoded as modules, not as text.
    return Markup(svg)  # noqa: S704  # nosec B704


@bp.context_processor
def dashboard_helpers() -> dict[str, Any]:
    return {
        "short_url": short_url,
        "link_fields": FIELDS,
        "form_rows": form_rows,
        "rule_editor": RULE_EDITOR,
    }


def _int_arg(name: str, default: int, lowest: int, highest: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return max(lowest, min(value, highest))


@bp.get("/", endpoint="index")
@bp.get("", endpoint="index")  # registered first: url_for gives the canonical /dashboard
@login_required
def index() -> Page:
    """The user's links (admins: everyone's) with search, tag filter, sort and pages."""
    query = request.args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    tag = request.args.get("tag", "").strip()[:64]
    sort = request.args.get("sort", "newest")
    if sort not in SORTS:
        sort = "newest"
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, 1, PER_PAGE_CHOICES[-1])
    page = _int_arg("page", 1, 1, 1_000_000)

    pagination = queries.listing(
        current_user,
        queries.LinkFilter(q=query, tag=tag),
        sort=sort,
        page=page,
        per_page=per_page,
        last_page_if_past=True,
    )

    def page_url(number: int) -> str:
        args: dict[str, Any] = {
            "q": query,
            "tag": tag,
            "sort": sort,
            "per_page": per_page,
            "page": number,
        }
        defaults = {"q": "", "tag": "", "sort": "newest", "per_page": DEFAULT_PER_PAGE, "page": 1}
        return url_for("dashboard.index", **{k: v for k, v in args.items() if v != defaults[k]})

    return render_template(
        "dashboard/index.html",
        pagination=pagination,
        rows=pagination.items,
        query=query,
        tag=tag,
        tags=queries.tag_names(current_user),
        sort=sort,
        sorts={key: label for key, (label, _) in SORTS.items()},
        per_page=per_page,
        per_page_choices=PER_PAGE_CHOICES,
        page_url=page_url,
        filtered=bool(query or tag),
        delete_form=DeleteForm(),
    )


def _show_link_errors(form: FlaskForm, error: LinkError) -> None:
    """Put each of the service's field errors next to its field; the rest above the form.

    A nested field's error (``rules.1.url``) goes to its field, which also keeps it by path
    in ``path_errors`` so that its template can place it (the rule editor: next to rule 2)."""
    for path, message in error.errors.items():
        field, _, rest = path.partition(".")
        target = getattr(form, field, None) if field in LINK_FIELDS else None
        if target is not None:
            target.errors = [*target.errors, message]
            if rest:
                target.path_errors = {**getattr(target, "path_errors", {}), rest: message}
        else:
            form.form_errors.append(message)


@bp.route("/new", methods=["GET", "POST"])
@login_required
@limiter.limit(
    _create_rate_limit,
    key_func=_per_user,
    methods=["POST"],
    deduct_when=_link_was_created,
    error_message="You created many links in a short time. Please wait a minute.",
)
def create() -> Page:
    """Create a link; field errors from the links service show next to the fields."""
    form = LinkForm()
    del form.remove_password
    for spec in FORM_FIELDS:
        if not spec.create:
            delattr(form, spec.name)
    status = 200
    if form.validate_on_submit():
        values = {
            spec.name: spec.from_form(getattr(form, spec.name).data)
            for spec in FORM_FIELDS
            if spec.create
        }
        try:
            link = create_link(current_user._get_current_object(), **values)
        except LinkError as error:
            _show_link_errors(form, error)
            status = error.status
        else:
            flash(f"Created {short_url(link.slug, link.host)}", "success")
            return redirect(url_for("dashboard.detail", slug=link.slug, domain=link.host))
    elif form.errors:
        status = 422
    return render_template("dashboard/link_form.html", form=form, link=None), status


@bp.get("/links/<slug>")
@login_required
def detail(slug: str) -> Page:
    """One link: its short URL with a copy button, a QR code, settings and visits."""
    link = get_link_for(current_user, slug, request.args.get("domain"))
    row = queries.row_of(link)
    return render_template(
        "dashboard/detail.html",
        link=link,
        row=row,
        url=row.short_url,
        qr=qr_svg(row.short_url),
        delete_form=DeleteForm(),
    )


@bp.get("/links/<slug>/qr.svg")
@login_required
def qr_download(slug: str) -> Response:
    """The QR code as a standalone SVG file."""
    link = get_link_for(current_user, slug, request.args.get("domain"))
    buffer = io.BytesIO()
    segno.make_qr(short_url(link.slug, link.host), error="m").save(
        buffer, kind="svg", scale=10, border=4
    )
    response = current_app.response_class(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{link.slug}-qr.svg"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _changes(form: FlaskForm, link: Link) -> dict[str, Any]:
    """Only what the form changed, so an untouched field never trips a validation rule."""
    changes: dict[str, Any] = {}
    for spec in FORM_FIELDS:
        if not spec.update or spec.current is None or not hasattr(form, spec.name):
            continue
        wanted = spec.from_form(getattr(form, spec.name).data)
        if wanted is None and spec.patch_null is KEEP:
            continue
        if wanted != spec.current(link):
            changes[spec.name] = wanted
    remove_password = getattr(form, "remove_password", None)
    if remove_password is not None and remove_password.data:
        changes["password"] = ""  # nosec B105  # empty means "remove the password"
    elif form.password.data:
        changes["password"] = form.password.data
    return changes


@bp.route("/links/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str) -> Page:
    """Change a link; an empty password field keeps the current password."""
    link = get_link_for(current_user, slug, request.args.get("domain"))
    form = LinkForm(obj=link if request.method == "GET" else None)
    if request.method == "GET":
        for spec in FORM_FIELDS:
            if spec.to_form is not None:
                getattr(form, spec.name).data = spec.to_form(link)
        form.password.data = ""
    if not link.password_hash:
        del form.remove_password
    status = 200
    if form.validate_on_submit():
        changes = _changes(form, link)
        if not changes:
            flash("Nothing to change.", "info")
            return redirect(url_for("dashboard.detail", slug=link.slug, domain=link.host))
        try:
            link = update_link(link, **changes)
        except LinkError as error:
            db.session.rollback()
            _show_link_errors(form, error)
            status = error.status
        else:
            flash(f"Saved {short_url(link.slug, link.host)}", "success")
            return redirect(url_for("dashboard.detail", slug=link.slug, domain=link.host))
    elif form.errors:
        status = 422
    return render_template("dashboard/link_form.html", form=form, link=link), status


@bp.route("/links/<slug>/delete", methods=["GET", "POST"])
@login_required
def delete(slug: str) -> Page:
    """GET asks for confirmation; POST (with CSRF) deletes."""
    link = get_link_for(current_user, slug, request.args.get("domain"))
    form = DeleteForm()
    if form.validate_on_submit():
        delete_link(link)
        flash(f"Deleted the link “{slug}”.", "success")
        return redirect(url_for("dashboard.index"))
    return render_template("dashboard/confirm_delete.html", link=link, form=form)
