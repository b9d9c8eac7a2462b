"""The dashboard: list, search, filter, paginate, create, edit and delete links.

Every core action is a plain link or form, so the pages work without JavaScript; the only
script (``static/dashboard.js``) adds "copy" buttons. Authorization is the links service's:
:func:`visible_links` and :func:`get_link_for` only ever return what the user may see
(own links, admins all) and answer 404 otherwise, so other users' links cannot be probed.
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
from markupsafe import Markup
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response as BaseResponse

from ..accounts.auth import login_required
from ..extensions import db, limiter
from ..links.models import Link, Tag, link_tags
from ..links.services import (
    LinkError,
    create_link,
    delete_link,
    get_link_for,
    update_link,
    visible_links,
)
from ..links.visits import visit_count
from . import bp
from .forms import DeleteForm, LinkForm, as_utc, parse_tags

Page = str | tuple[str, int] | BaseResponse

#: ``?sort=`` values and their ORDER BY; the first is the default.
SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "newest": ("Newest first", (Link.created_at.desc(), Link.id.desc())),
    "oldest": ("Oldest first", (Link.created_at.asc(), Link.id.asc())),
    "slug": ("Short name A to Z", (Link.slug.asc(),)),
    "-slug": ("Short name Z to A", (Link.slug.desc(),)),
}
PER_PAGE_CHOICES = (10, 20, 50, 100)
DEFAULT_PER_PAGE = 20
MAX_QUERY_LENGTH = 200

#: Form fields the links service may name in ``LinkError.errors``.
LINK_FIELDS = (
    "url",
    "slug",
    "title",
    "tags",
    "redirect_type",
    "expires_at",
    "max_visits",
    "password",
)


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


def short_url(slug: str) -> str:
    """The public short URL: ``PUBLIC_URL`` when configured, else this request's host."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return f"{base.rstrip('/')}/{slug}"


def qr_svg(url: str) -> Markup:
    """An inline SVG QR code (no inline style: CSP-safe), scaled by CSS."""
    svg = segno.make_qr(url, error="m").svg_inline(
        scale=1, border=4, omitsize=True, svgclass="qr", lineclass="qr-line", dark="#1d2433"
    )
    # segno's own markup; the URL is encoded as modules, not as text.
    return Markup(svg)  # noqa: S704  # nosec B704


@bp.context_processor
def dashboard_helpers() -> dict[str, Any]:
    return {"short_url": short_url}


def _int_arg(name: str, default: int, lowest: int, highest: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return max(lowest, min(value, highest))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(statement: Select[Any], query: str, tag: str) -> Select[Any]:
    if query:
        pattern = f"%{_escape_like(query)}%"
        statement = statement.where(
            or_(
                Link.slug.ilike(pattern, escape="\\"),
                Link.url.ilike(pattern, escape="\\"),
                Link.title.ilike(pattern, escape="\\"),
            )
        )
    if tag:
        statement = statement.where(Link.tags.any(Tag.name == tag))
    return statement


def _tag_names(visible: Select[Any]) -> list[str]:
    """Names of the tags on the links this user can see, for the filter menu."""
    link_ids = visible.with_only_columns(Link.id).order_by(None).scalar_subquery()
    statement = (
        select(Tag.name)
        .join(link_tags, link_tags.c.tag_id == Tag.id)
        .where(link_tags.c.link_id.in_(link_ids))
        .distinct()
        .order_by(Tag.name)
    )
    return list(db.session.scalars(statement))


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

    visible = visible_links(current_user)
    statement = _filtered(visible, query, tag).order_by(*SORTS[sort][1])
    if current_user.is_admin:
        statement = statement.options(selectinload(Link.owner))
    pagination = db.paginate(statement, page=page, per_page=per_page, error_out=False)
    if pagination.pages and page > pagination.pages:  # past the end: show the last page
        pagination = db.paginate(
            statement, page=pagination.pages, per_page=per_page, error_out=False
        )
    # Only limited links keep a live counter (analytics counts the rest later, elsewhere).
    visits = {link.slug: visit_count(link.id) for link in pagination.items if link.max_visits}

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
        links=pagination.items,
        visits=visits,
        query=query,
        tag=tag,
        tags=_tag_names(visible),
        sort=sort,
        sorts={key: label for key, (label, _) in SORTS.items()},
        per_page=per_page,
        per_page_choices=PER_PAGE_CHOICES,
        page_url=page_url,
        filtered=bool(query or tag),
        delete_form=DeleteForm(),
    )


def _show_link_errors(form: LinkForm, error: LinkError) -> None:
    """Put each of the service's field errors next to its field; the rest above the form."""
    for field, message in error.errors.items():
        target = getattr(form, field, None) if field in LINK_FIELDS else None
        if target is not None:
            target.errors = [*target.errors, message]
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
    del form.remove_password, form.disabled
    status = 200
    if form.validate_on_submit():
        try:
            link = create_link(
                current_user._get_current_object(),
                url=form.url.data.strip(),
                slug=(form.slug.data or "").strip() or None,
                title=(form.title.data or "").strip(),
                tags=parse_tags(form.tags.data),
                redirect_type=form.redirect_type.data,
                expires_at=as_utc(form.expires_at.data),
                max_visits=form.max_visits.data,
                password=form.password.data or None,
            )
        except LinkError as error:
            _show_link_errors(form, error)
            status = error.status
        else:
            flash(f"Created {short_url(link.slug)}", "success")
            return redirect(url_for("dashboard.detail", slug=link.slug))
    elif form.errors:
        status = 422
    return render_template("dashboard/link_form.html", form=form, link=None), status


@bp.get("/links/<slug>")
@login_required
def detail(slug: str) -> Page:
    """One link: its short URL with a copy button, a QR code, settings and visits."""
    link = get_link_for(current_user, slug)
    url = short_url(link.slug)
    return render_template(
        "dashboard/detail.html",
        link=link,
        url=url,
        qr=qr_svg(url),
        visits=visit_count(link.id) if link.max_visits else None,
        delete_form=DeleteForm(),
    )


@bp.get("/links/<slug>/qr.svg")
@login_required
def qr_download(slug: str) -> Response:
    """The QR code as a standalone SVG file."""
    link = get_link_for(current_user, slug)
    buffer = io.BytesIO()
    segno.make_qr(short_url(link.slug), error="m").save(buffer, kind="svg", scale=10, border=4)
    response = current_app.response_class(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{link.slug}-qr.svg"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _changes(form: LinkForm, link: Link) -> dict[str, Any]:
    """Only what the form changed, so an untouched field never trips a validation rule."""
    wanted: dict[str, Any] = {
        "url": form.url.data.strip(),
        "slug": (form.slug.data or "").strip() or link.slug,
        "title": (form.title.data or "").strip(),
        "tags": parse_tags(form.tags.data),
        "redirect_type": form.redirect_type.data,
        "expires_at": as_utc(form.expires_at.data),
        "max_visits": form.max_visits.data,
        "disabled": bool(form.disabled.data),
    }
    current: dict[str, Any] = {
        "url": link.url,
        "slug": link.slug,
        "title": link.title,
        "tags": [tag.name for tag in link.tags],
        "redirect_type": link.redirect_type,
        "expires_at": link.expires_at.replace(second=0, microsecond=0) if link.expires_at else None,
        "max_visits": link.max_visits,
        "disabled": link.disabled,
    }
    changes = {key: value for key, value in wanted.items() if value != current[key]}
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
    link = get_link_for(current_user, slug)
    form = LinkForm(obj=link if request.method == "GET" else None)
    if request.method == "GET":
        form.tags.data = ", ".join(tag.name for tag in link.tags)
        form.expires_at.data = link.expires_at.replace(tzinfo=None) if link.expires_at else None
        form.password.data = ""
    if not link.password_hash:
        del form.remove_password
    status = 200
    if form.validate_on_submit():
        changes = _changes(form, link)
        if not changes:
            flash("Nothing to change.", "info")
            return redirect(url_for("dashboard.detail", slug=link.slug))
        try:
            link = update_link(link, **changes)
        except LinkError as error:
            db.session.rollback()
            _show_link_errors(form, error)
            status = error.status
        else:
            flash(f"Saved {short_url(link.slug)}", "success")
            return redirect(url_for("dashboard.detail", slug=link.slug))
    elif form.errors:
        status = 422
    return render_template("dashboard/link_form.html", form=form, link=link), status


@bp.route("/links/<slug>/delete", methods=["GET", "POST"])
@login_required
def delete(slug: str) -> Page:
    """GET asks for confirmation; POST (with CSRF) deletes."""
    link = get_link_for(current_user, slug)
    form = DeleteForm()
    if form.validate_on_submit():
        delete_link(link)
        flash(f"Deleted the link “{slug}”.", "success")
        return redirect(url_for("dashboard.index"))
    return render_template("dashboard/confirm_delete.html", link=link, form=form)
