"""The routes of Kutt API v2: health, links (list, create, edit, delete, stats), users and
the refused domain writes.

Authorization is the links service's: :func:`~service.links.services.visible_links` only
ever yields what the key's owner may see (own links; an admin all), and anything else is
answered exactly like an id that names no link.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, g, jsonify, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..api.auth import authenticate_token, require_key
from ..api.errors import ApiProblem
from ..api.models import ApiKey
from ..domains import services as domains
from ..extensions import csrf, db
from ..extensions.routing import allowed_methods
from ..extensions.types import utcnow
from ..links import queries
from ..links.models import Link
from ..links.services import create_link, delete_link, update_link, visible_links
from . import bp, inputs
from .errors import KuttError, error_response, register_error_handlers
from .ids import link_id_of, names
from .shapes import domain_json, link_json, stats_json

register_error_handlers(bp)
csrf.exempt(bp)  # an API key in a header, never a cookie: nothing for CSRF to ride on

#: Kutt's answer to a missing or unknown key.
UNAUTHORIZED = "Unauthorized."
ADMINS_ONLY = (
    "Domains are added and removed by an administrator of LinkFleet (linkfleet domains, or "
    "/api/v1/domains); the Kutt API does not change them."
)
#: Kutt's header; header names are case-insensitive, so ``X-API-KEY`` works too.
KEY_HEADER = "X-API-Key"
#: Expiries closer than this to the current one are not a change (as Kutt compares them).
_SAME_EXPIRY_SECONDS = 60
_BULLET = "•"


def _authenticate(scope: str) -> ApiKey:
    """``X-API-Key`` checked like a Bearer key of ``/api/v1`` (same failure budget, scopes),
    the refusals worded as Kutt's."""
    token = request.headers.get(KEY_HEADER, "").strip()
    if not token:
        raise KuttError(401, UNAUTHORIZED)
    try:
        return authenticate_token(token, scope)
    except ApiProblem as problem:
        status = problem.code or 401
        message = UNAUTHORIZED if status == 401 else str(problem.description)
        retry = {k: v for k, v in problem.extra_headers.items() if k == "Retry-After"}
        raise KuttError(status, message, headers=retry) from None


def _with_key(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return require_key(scope, authenticator=_authenticate)


def _find(public: str, message: str) -> Link:
    """The link ``public`` names if the key's owner may see it; 400 for what cannot be an id
    (Kutt's validators), 404 for what names no link of theirs."""
    link_id = link_id_of(public)
    if link_id is None:
        if len(public) != 36:
            raise inputs.bad("ID is invalid.")
        raise KuttError(404, message)
    link = db.session.scalars(visible_links(g.api_user).where(Link.id == link_id)).first()
    if link is None or not names(public, link.id, link.created_at):
        raise KuttError(404, message)
    return link


def _link_response(link: Link, status: int = 200) -> Response:
    response = jsonify(link_json(queries.row_of(link)))
    response.status_code = status
    return response


@bp.route("/health", methods=["GET"])
def health() -> Response:
    """Kutt's health check: the process answers (``/readyz`` checks the dependencies)."""
    return current_app.response_class("OK", mimetype="text/html")


@bp.route("/links", methods=["GET"])
@_with_key("read")
def list_links() -> Response:
    """The key owner's links, newest first; an admin's ``all=true`` lists everyone's."""
    limit, skip = inputs.list_window()
    user = g.api_user
    every = user.is_admin and request.args.get("all", "").lower() in {"true", "on"}
    criteria = queries.LinkFilter(
        q=request.args.get("search", ""), owner_id=None if every else user.id
    )
    page = queries.listing(user, criteria, per_page=limit, offset=skip)
    return jsonify(
        total=page.total, limit=limit, skip=skip, data=[link_json(row) for row in page.items]
    )


@bp.route("/links", methods=["POST"])
@_with_key("write")
def create() -> Response:
    """Create a link (201), or with ``reuse`` answer the owner's link to the same target (200)."""
    fields = inputs.body()
    target = inputs.target(fields.get("target"))
    password = inputs.password(fields.get("password"))
    slug = inputs.custom_url(fields.get("customurl"))
    reuse = inputs.boolean(fields.get("reuse"), "Reuse must be boolean.")
    title = inputs.description(fields.get("description"))
    expires_at = inputs.expiry(fields.get("expire_in"))
    domain = inputs.domain(fields.get("domain"))
    user = g.api_user
    if reuse:
        same = db.session.scalars(
            queries.filtered(
                select(Link).where(Link.owner_id == user.id, Link.url == target),
                queries.LinkFilter(domain=domain),
            ).order_by(Link.id)
        ).first()
        if same is not None:
            return _link_response(same)
    link = create_link(  # a short name taken on the domain is the service's SlugTaken: 409
        user,
        url=target,
        slug=slug,
        domain=domain.host or None,
        title=title,
        expires_at=expires_at,
        password=password,
    )
    return _link_response(link, 201)


def _changes(link: Link, fields: dict[str, Any]) -> dict[str, Any]:
    """What an edit changes, as ``update_link`` takes it; fields equal to the link's are no
    change, an empty ``password`` removes one, a password of only bullets keeps it."""
    changes: dict[str, Any] = {}
    url = inputs.target(fields.get("target"), required=False)
    if url is not None and url != link.url:
        changes["url"] = url
    if "password" in fields:
        secret = fields["password"]
        if secret in (None, ""):
            if link.password_hash is not None:
                changes["password"] = ""  # nosec B105  # empty: remove the password
        elif not (isinstance(secret, str) and secret and not secret.replace(_BULLET, "")):
            changes["password"] = inputs.password(secret)
    slug = inputs.custom_url(fields.get("address"), invalid="Custom URL is not valid")
    if slug is not None and slug != link.slug:
        changes["slug"] = slug
    expires_at = inputs.expiry(fields.get("expire_in"))
    if expires_at is not None and not (
        link.expires_at is not None
        and abs((expires_at - link.expires_at).total_seconds()) < _SAME_EXPIRY_SECONDS
    ):
        changes["expires_at"] = expires_at
    title = inputs.description(fields.get("description"))
    if title is not None and title != link.title:
        changes["title"] = title
    return changes


@bp.route("/links/<public_id>", methods=["PATCH"])
@_with_key("write")
def edit(public_id: str) -> Response:
    """Change a link's target, short name, description, expiry or password."""
    link = _find(public_id, "Link was not found.")
    changes = _changes(link, inputs.body())
    if not changes:
        raise inputs.bad("Should at least update one field.")
    return _link_response(update_link(link, **changes))  # a taken address: SlugTaken, 409


@bp.route("/links/<public_id>", methods=["DELETE"])
@_with_key("write")
def remove(public_id: str) -> Response:
    link = _find(public_id, "Could not delete the link.")
    delete_link(link)
    return jsonify(message="Link has been deleted successfully.")


# The npm client ``kutt`` (3.0.2) sends ``links.stats(id)`` as DELETE: answered as the read
# it means, with a read key, deleting nothing.
@bp.route("/links/<public_id>/stats", methods=["GET", "DELETE"])
@_with_key("read")
def stats(public_id: str) -> Response:
    link = _find(public_id, "Link could not be found.")
    return jsonify(stats_json(queries.row_of(link), now=utcnow()))


@bp.route("/users", methods=["GET"])
@_with_key("read")
def user_info() -> Response:
    """Kutt's user info: the key (the one this request presented: LinkFleet only keeps
    hashes), the email and the domains the user may create links on (Kutt: the user's own;
    LinkFleet: every added domain, which every account may use)."""
    response = jsonify(
        apikey=request.headers.get(KEY_HEADER, "").strip(),
        email=g.api_user.email,
        domains=[domain_json(domain) for domain in domains.list_domains()],
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# Kutt's users add and remove their own domains; LinkFleet's are an administrator's, for
# every account, and need their DNS pointed at the fleet: no Kutt request changes them.
@bp.route("/domains", methods=["POST"])
@bp.route("/domains/<public_id>", methods=["DELETE"])
@_with_key("write")
def domains_are_administered(public_id: str = "") -> Response:
    raise KuttError(403, ADMINS_ONLY)


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@bp.route("/", methods=_METHODS)
@bp.route("/<path:rest>", methods=_METHODS)
def not_supported(rest: str = "") -> Response:
    """Anything else under ``/api/v2`` answers as Kutt's clients read errors: 405 with
    ``Allow`` for a method a path does not have, else 404."""
    allowed = allowed_methods("kutt.not_supported")
    if allowed:
        return error_response(405, "Method not allowed.", {"Allow": ", ".join(sorted(allowed))})
    return error_response(404, "Not found.")
