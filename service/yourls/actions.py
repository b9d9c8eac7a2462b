"""YOURLS' API actions over LinkFleet's links service and read side.

Each action returns the array YOURLS 1.10 builds for it (``yourls_add_new_link``,
``yourls_api_expand``, ``yourls_get_keyword_stats``, ``yourls_get_stats``, ...): the same
keys in the same order, the same ``status``/``code``/``message`` texts and the same
``statusCode``/``errorCode`` values (strings or numbers, as YOURLS has them), since clients
test them. :mod:`.output` turns it into a response. Writes go through
:func:`~service.links.services.create_link` like every other write; reads through
:mod:`service.links.queries`, so a caller only ever sees the links its account may see.

Where LinkFleet differs, on purpose: ``ip`` is always empty (no client address is
stored), a missing title stays empty (no page is fetched to find one), a keyword with
characters outside ``A-Z a-z 0-9 - _`` is refused instead of silently stripped, and a
read-only key cannot shorten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import current_app
from werkzeug.exceptions import NotFound

from ..extensions import db
from ..links import fields, queries
from ..links.models import Link
from ..links.services import SlugTaken, ValidationError, create_link, get_link_for, visible_links
from ..links.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN, is_reserved
from ..links.validation import service_hosts
from .auth import Caller, php_intval

Result = dict[str, Any]

#: What ``version`` reports: the YOURLS release whose API this surface speaks.
YOURLS_VERSION = "1.10.2"
YOURLS_DB_VERSION = "506"
#: The ``simple`` text of the stats actions, which have no plain-text form.
STATS_NEED_FORMAT = "Need either XML or JSON format for stats"
NOT_FOUND_MESSAGE = "Error: short URL not found"
UNKNOWN_ACTION = 'Unknown or missing "action" parameter'
#: At most this many links per ``stats`` call (YOURLS has no bound; a query should).
MAX_STATS_LIMIT = 1000
#: ``filter`` values of ``stats`` and the read side's ranking each stands for.
STATS_FILTERS = {"top": "top", "bottom": "bottom", "last": "last", "rand": "rand", "random": "rand"}
_NOT_KEYWORD = re.compile(r"[^A-Za-z0-9_-]")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")


def trim_long_string(text: str, length: int = 60, append: str = "[...]") -> str:
    """``yourls_trim_long_string``: at most ``length`` characters, ``[...]`` marking a cut."""
    return text if len(text) <= length else text[: length - len(append)] + append


def yourls_date(moment: datetime) -> str:
    """YOURLS' timestamp format (``Y-m-d H:i:s``), here always UTC."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def site() -> str:
    """The short URLs' base, as YOURLS_SITE is: no trailing slash."""
    return queries.short_url("").rstrip("/")


def keyword_of(shorturl: str) -> str:
    """A keyword from a short URL or a keyword, as YOURLS reads ``shorturl``: the site's
    prefix removed, then every character a keyword cannot have."""
    return _NOT_KEYWORD.sub("", shorturl.replace(site() + "/", ""))[:MAX_SLUG_LENGTH]


def _link_fields(row: queries.LinkRow) -> dict[str, Any]:
    """A link as ``url-stats`` and ``stats`` show it."""
    link = row.link
    return {
        "shorturl": row.short_url,
        "url": link.url,
        "title": link.title,
        "timestamp": yourls_date(link.created_at),
        "ip": "",
        "clicks": row.clicks,
    }


def _failure(code: str, message: str, status: str = "400") -> Result:
    return {
        "status": "fail",
        "code": code,
        "message": message,
        "errorCode": status,
        "statusCode": status,
    }


def shorturl(caller: Caller, params: Mapping[str, str]) -> Result:
    """``yourls_add_new_link``: ``url`` (required), ``keyword`` and ``title`` (optional)."""
    result = _add_new_link(
        caller, params.get("url", ""), params.get("keyword", ""), params.get("title", "")
    )
    result["simple"] = result.get("shorturl", "")
    return result


def _add_new_link(caller: Caller, raw_url: str, keyword: str, raw_title: str) -> Result:
    if not caller.can_write:
        return _failure(
            "error:scope",
            "This API key is read-only; create a read-write key to shorten URLs.",
            "403",
        )
    try:
        url: str = fields.check({"url": raw_url})["url"]
    except ValidationError:
        if _points_here(raw_url):
            return _failure("error:noloop", "URL is a short URL")
        return _failure("error:nourl", "Missing or malformed URL")
    existing = _same_target(caller, url)
    if existing is not None:
        row = queries.row_of(existing)
        result = _failure(
            "error:url",
            f"{trim_long_string(url)} already exists in database "
            f"(short URL: {re.sub('^https?://', '', site())}/{existing.slug})",
        )
        result["url"] = {
            "keyword": existing.slug,
            "url": url,
            "title": existing.title,
            "date": yourls_date(existing.created_at),
            "ip": "",
            "clicks": row.clicks,
        }
        result["title"] = existing.title
        result["shorturl"] = row.short_url
        return result
    if keyword and not SLUG_PATTERN.fullmatch(keyword):
        return _failure(
            "error:keyword",
            f"Short URL {keyword} is not a valid keyword: use 1 to 64 of A-Z a-z 0-9 - _",
        )
    if keyword and is_reserved(keyword):
        return _keyword_taken(keyword)
    title = _CONTROL_OR_SPACE.sub(" ", raw_title).strip()[: fields.MAX_TITLE_LENGTH]
    try:
        link = create_link(caller.user, url=url, slug=keyword or None, title=title)
    except SlugTaken:  # taken between the check and the commit: another replica won
        db.session.rollback()
        return _keyword_taken(keyword)
    except ValidationError as error:  # the URL and the keyword were checked above
        db.session.rollback()
        if "slug" in error.errors:
            return _keyword_taken(keyword)
        return _failure("error:nourl", "Missing or malformed URL")
    return {
        "status": "success",
        "code": "",
        "message": f"{trim_long_string(url)} added to database",
        "errorCode": "",
        "statusCode": "200",
        "url": {
            "keyword": link.slug,
            "url": url,
            "title": title,
            "date": yourls_date(link.created_at),
            "ip": "",
        },
        "title": title,
        "shorturl": queries.short_url(link.slug, link.host),
    }


def _keyword_taken(keyword: str) -> Result:
    return _failure(
        "error:keyword", f"Short URL {keyword} already exists in database or is reserved"
    )


def _points_here(raw_url: str) -> bool:
    """True when the refused URL is on one of this service's own hosts (a loop)."""
    match = re.match(r"^\s*https?://([^/?#:@]+)", raw_url, re.IGNORECASE)
    return match is not None and match.group(1).lower().rstrip(".") in service_hosts()


def _same_target(caller: Caller, url: str) -> Link | None:
    """The caller's oldest link to ``url`` when YOURLS_UNIQUE_URLS is on (the default)."""
    if not current_app.config.get("YOURLS_UNIQUE_URLS", True):
        return None
    statement = visible_links(caller.user).where(Link.url == url).order_by(Link.id).limit(1)
    return db.session.scalars(statement).first()


def _find(caller: Caller, keyword: str) -> Link | None:
    if not keyword:
        return None
    try:
        return get_link_for(caller.user, keyword)
    except NotFound:
        return None


def expand(caller: Caller, params: Mapping[str, str]) -> Result:
    """``yourls_api_expand``: the long URL of ``shorturl`` (a short URL or a keyword)."""
    keyword = keyword_of(params.get("shorturl", ""))
    link = _find(caller, keyword)
    if link is None:
        return {
            "keyword": keyword,
            "simple": "not found",
            "message": NOT_FOUND_MESSAGE,
            "errorCode": "404",
        }
    return {
        "keyword": link.slug,
        "shorturl": queries.short_url(link.slug, link.host),
        "longurl": link.url,
        "title": link.title,
        "simple": link.url,
        "message": "success",
        "statusCode": "200",
    }


def url_stats(caller: Caller, params: Mapping[str, str]) -> Result:
    """``yourls_get_keyword_stats``: one link with its clicks."""
    link = _find(caller, keyword_of(params.get("shorturl", "")))
    if link is None:
        result: Result = {"statusCode": 404, "message": NOT_FOUND_MESSAGE}
    else:
        row = queries.row_of(link)
        result = {"statusCode": 200, "message": "success", "link": _link_fields(row)}
    result["simple"] = STATS_NEED_FORMAT
    return result


def _db_stats(caller: Caller) -> dict[str, int]:
    total_links, total_clicks = queries.totals(caller.user)
    return {"total_links": total_links, "total_clicks": total_clicks}


def stats(caller: Caller, params: Mapping[str, str]) -> Result:
    """``yourls_get_stats``: ``limit`` links by ``filter`` (top, bottom, last, rand) from
    ``start``, and the totals. No ``limit`` (or 0) means no links, as in YOURLS."""
    ranking = STATS_FILTERS.get(params.get("filter", ""), "top")
    limit = min(php_intval(params.get("limit", "")), MAX_STATS_LIMIT)
    result: Result = {}
    if limit > 0:
        offset = php_intval(params.get("start", ""))
        rows = queries.ranked(caller.user, ranking, limit=limit, offset=offset)
        if rows:
            result["links"] = {
                f"link_{number}": _link_fields(row) for number, row in enumerate(rows, 1)
            }
    result["stats"] = _db_stats(caller)
    result["statusCode"] = "200"
    result["simple"] = STATS_NEED_FORMAT
    result["message"] = "success"
    return result


def db_stats(caller: Caller, _params: Mapping[str, str]) -> Result:
    """``yourls_api_db_stats``: how many links the caller has and their clicks in all."""
    return {
        "db-stats": _db_stats(caller),
        "statusCode": "200",
        "simple": STATS_NEED_FORMAT,
        "message": "success",
    }


def version(_caller: Caller, params: Mapping[str, str]) -> Result:
    """``yourls_api_action_version``; ``db=1`` adds the database version."""
    result: Result = {"version": YOURLS_VERSION, "simple": YOURLS_VERSION}
    if _loosely_one(params.get("db", "")):
        result["db_version"] = YOURLS_DB_VERSION
    return result


def _loosely_one(text: str) -> bool:
    """PHP's ``$value == 1`` for a request string: a number equal to one."""
    try:
        return float(text.strip()) == 1
    except ValueError:
        return False


def unknown_action() -> Result:
    return {"errorCode": "400", "message": UNKNOWN_ACTION, "simple": UNKNOWN_ACTION}


ACTIONS: dict[str, Callable[[Caller, Mapping[str, str]], Result]] = {
    "shorturl": shorturl,
    "stats": stats,
    "db-stats": db_stats,
    "url-stats": url_stats,
    "expand": expand,
    "version": version,
}
#: The actions that write (and so need a read-write key).
WRITING_ACTIONS = frozenset({"shorturl"})
