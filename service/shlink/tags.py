"""Tags on the key owner's links: list, stats, rename, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import g, jsonify
from werkzeug.wrappers import Response

from ..links import fields
from ..links.models import Link
from ..links.services import (
    ValidationError,
    normalise_tags,
    update_link,
)
from . import V3, bp, inputs, shapes, summaries
from .auth import with_key
from .errors import (
    TAG_CONFLICT,
    ShlinkProblem,
    invalid_data,
    refused,
    tag_not_found,
)

_TAG_ORDERS = ("tag", "shortUrlsCount", "visits", "nonBotVisits")


def tagged(tag: str) -> list[Link]:
    """The key owner's links carrying ``tag`` (none for what cannot be a tag name)."""
    name = tag.strip().lower()
    if not name or fields.CONTROL_CHARACTERS.search(name) or len(name) > fields.MAX_TAG_LENGTH:
        return []
    return summaries.tagged_links(g.api_user, name)


def _tag_stats() -> tuple[list[summaries.TagStats], dict[str, int]]:
    """The key owner's tags, ``searchTerm``-filtered, ``orderBy``-ordered and paged."""
    window = inputs.window(default=inputs.ALL_ITEMS)
    term = (inputs.arg("searchTerm") or "").lower()
    stats = [item for item in summaries.of_tags(g.api_user) if term in item.tag]
    chosen = inputs.order(_TAG_ORDERS)
    if chosen is not None:
        name, direction = chosen
        keys: dict[str, Callable[[summaries.TagStats], Any]] = {
            "tag": lambda item: item.tag,
            "shortUrlsCount": lambda item: (item.links, item.tag),
            "visits": lambda item: (item.visits.total, item.tag),
            "nonBotVisits": lambda item: (item.visits.total - item.visits.bots, item.tag),
        }
        stats.sort(key=keys[name], reverse=direction == "DESC")
    return shapes.page_of(stats, window.page, window.items_per_page)


@bp.route(f"{V3}/tags", methods=["GET"])
@with_key("read")
def list_tags() -> Response:
    stats, paginator = _tag_stats()
    return jsonify(tags={"data": [item.tag for item in stats], "pagination": paginator})


@bp.route(f"{V3}/tags/stats", methods=["GET"])
@with_key("read")
def tags_stats() -> Response:
    stats, paginator = _tag_stats()
    data = [
        {"tag": item.tag, "shortUrlsCount": item.links, "visitsSummary": item.visits.json()}
        for item in stats
    ]
    return jsonify(tags={"data": data, "pagination": paginator})


def _tag_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise refused(field, "Give a tag name.")
    try:
        return normalise_tags([value])[0]
    except ValidationError as error:
        raise refused(field, error.errors["tags"]) from None


@bp.route(f"{V3}/tags", methods=["PUT"])
@with_key("write")
def rename_tag() -> Response:
    """Rename a tag on the key owner's links (an admin's: on every link)."""
    data = inputs.body()
    problems = {
        name: "Give a tag name."
        for name in ("oldName", "newName")
        if not isinstance(data.get(name), str) or not data[name].strip()
    }
    if problems:
        raise invalid_data(problems)
    old, new = data["oldName"], _tag_name("newName", data["newName"])
    links = tagged(old)
    if not links:
        raise tag_not_found(old)
    name = old.strip().lower()
    if new != name and tagged(new):
        raise ShlinkProblem(
            409,
            TAG_CONFLICT,
            "Tag conflict",
            f"You cannot rename tag {old} to {new}, because it already exists",
            oldName=old,
            newName=new,
        )
    for link in links:
        update_link(link, tags=[new if tag.name == name else tag.name for tag in link.tags])
    return Response(status=204)


@bp.route(f"{V3}/tags", methods=["DELETE"])
@with_key("write")
def delete_tags() -> Response:
    """Take the ``tags[]`` off the key owner's links (unknown names are no error)."""
    names = {name.strip().lower() for name in inputs.arg_list("tags")}
    for name in sorted(names):
        for link in tagged(name):
            update_link(link, tags=[tag.name for tag in link.tags if tag.name not in names])
    return Response(status=204)
