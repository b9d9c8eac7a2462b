"""Each peer's API as pages of :class:`PeerLink`: YOURLS, Kutt v2 and Shlink REST v3.

A peer is asked page after page from a position (the number of its links already read, so a
run that stopped can start again where it stopped); what a peer does not give is left out
(docs/MIGRATING.md lists it per peer). Shapes:

* **YOURLS** (``yourls-api.php``): no paged list of every link in the core API; the only
  listing is ``action=stats`` (``filter``, ``limit``, and ``start`` since YOURLS 1.7), so the
  links are read newest first (``filter=last``) in windows of ``limit`` from ``start``, and
  the total is ``stats.total_links``. A peer that ignores ``start`` (older than 1.7) answers
  the same window again: that is reported, never taken for new links.
* **Kutt** (``GET /api/v2/links?limit=&skip=``, ``all=true`` for an admin's every link):
  ``{total, data: [{address, target, description, expire_in, visit_count, created_at,
  password, banned}]}``.
* **Shlink** (``GET /rest/v3/short-urls?page=&itemsPerPage=``): ``{shortUrls: {data:
  [{shortCode, longUrl, title, tags, dateCreated, meta: {validUntil, maxVisits},
  crawlable, forwardQuery, visitsSummary: {total}}], pagination: {totalItems,
  pagesCount}}}``; a Shlink older than 2.9 sends no ``forwardQuery`` and forwards always.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .fetch import PeerError, join, request_json

PEERS = ("yourls", "kutt", "shlink")
#: Links per request: YOURLS has no bound (LinkFleet's serves 1000), Kutt's is 50, Shlink's
#: web client asks for 100 at most.
PAGE_SIZES = {"yourls": 1000, "kutt": 50, "shlink": 100}
_REPEAT_HINTS = {
    "yourls": " (`start` came with YOURLS 1.7): raise --page-size above its link count",
}


@dataclass(frozen=True)
class PeerLink:
    """One link as the peer describes it; ``problem`` is why it cannot be imported."""

    slug: str
    url: str
    title: str = ""
    tags: tuple[str, ...] = ()
    expires_at: datetime | None = None
    max_visits: int | None = None
    created_at: datetime | None = None
    visits: int | None = None
    #: The link's ``crawlable`` and ``forward_query`` (Shlink's switches; off elsewhere).
    crawlable: bool = False
    forward_query: bool = False
    problem: str = ""


@dataclass(frozen=True)
class Page:
    """Links of one answer; ``position`` is how many of the peer's links were read with it."""

    links: list[PeerLink]
    position: int
    total: int | None = None


@dataclass
class Peer:
    """Where the peer is, how to authenticate, and how to fetch (the SSRF switch)."""

    kind: str
    url: str
    allow_private: bool = False
    api_key: str = field(default="", repr=False)
    signature: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    every_user: bool = False
    page_size: int = 0
    timeout: float = 30.0

    @property
    def size(self) -> int:
        return self.page_size or PAGE_SIZES[self.kind]

    def pages(self, start: int = 0) -> Iterator[Page]:
        """The peer's links from ``start`` on, one page per request; :class:`PeerError`
        ends the iteration where the peer failed."""
        reader = {"yourls": self._yourls, "kutt": self._kutt, "shlink": self._shlink}[self.kind]
        previous = ""
        for page in reader(start):
            first = page.links[0].slug if page.links else ""
            if first and first == previous:
                read = page.position - len(page.links)
                hint = _REPEAT_HINTS.get(self.kind, "")
                raise PeerError(
                    f"the peer answered the same links again after {read}: it ignores the "
                    f"paging parameters{hint}."
                )
            previous = first
            yield page

    # -- YOURLS ---------------------------------------------------------------------------

    def _yourls_auth(self) -> dict[str, str]:
        if self.signature:
            return {"signature": self.signature}
        if self.username and self.password:
            return {"username": self.username, "password": self.password}
        raise PeerError("YOURLS needs --signature, or --username and --password.")

    def _yourls(self, start: int) -> Iterator[Page]:
        endpoint = self.url if self.url.endswith(".php") else join(self.url, "/yourls-api.php")

        def window(position: int) -> tuple[list[PeerLink], int | None]:
            form = {
                "action": "stats",
                "filter": "last",
                "limit": str(self.size),
                "start": str(position),
                "format": "json",
                **self._yourls_auth(),
            }
            answer = self._ask("POST", endpoint, form=form)
            if not isinstance(answer, dict) or "stats" not in answer:
                raise PeerError(_yourls_message(answer))
            items = answer.get("links") or {}
            if not isinstance(items, dict):
                raise PeerError("YOURLS answered links that are not an object.")
            links = [_yourls_link(item) for _, item in sorted(items.items(), key=_link_order)]
            return links, _integer(_get(answer, "stats", "total_links"))

        return self._by_offset(start, window)

    # -- Kutt -----------------------------------------------------------------------------

    def _kutt(self, start: int) -> Iterator[Page]:
        if not self.api_key:
            raise PeerError("Kutt needs --api-key.")
        headers = {"X-API-Key": self.api_key}

        def window(position: int) -> tuple[list[PeerLink], int | None]:
            query: dict[str, Any] = {"limit": self.size, "skip": position}
            if self.every_user:
                query["all"] = "true"
            answer = self._ask("GET", join(self.url, "/api/v2/links", query), headers=headers)
            data = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(data, list):
                raise PeerError("Kutt answered without a `data` list of links.")
            return [_kutt_link(item) for item in data], _integer(answer.get("total"))

        return self._by_offset(start, window)

    def _by_offset(
        self, start: int, window: Callable[[int], tuple[list[PeerLink], int | None]]
    ) -> Iterator[Page]:
        """Pages of a peer read by offset: ``window(offset)`` gives up to ``self.size`` links
        from there and the peer's total, if it tells; it ends at an empty or a last window."""
        position = start
        while True:
            links, total = window(position)
            if not links:
                return
            position += len(links)
            yield Page(links, position, total)
            if _last(len(links), self.size, position, total):
                return

    # -- Shlink ---------------------------------------------------------------------------

    def _shlink(self, start: int) -> Iterator[Page]:
        if not self.api_key:
            raise PeerError("Shlink needs --api-key.")
        number = start // self.size + 1
        skip = start % self.size
        while True:
            query = {"page": number, "itemsPerPage": self.size}
            answer = self._ask(
                "GET",
                join(self.url, "/rest/v3/short-urls", query),
                headers={"X-Api-Key": self.api_key},
            )
            data = _get(answer, "shortUrls", "data")
            if not isinstance(data, list):
                raise PeerError("Shlink answered without shortUrls.data.")
            pagination = _get(answer, "shortUrls", "pagination") or {}
            total = _integer(pagination.get("totalItems")) if isinstance(pagination, dict) else None
            pages = _integer(pagination.get("pagesCount")) if isinstance(pagination, dict) else None
            links = [_shlink_link(item) for item in data][skip:]
            skip = 0
            if not data:
                return
            yield Page(links, (number - 1) * self.size + len(data), total)
            if (pages is not None and number >= pages) or len(data) < self.size:
                return
            number += 1

    def _ask(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Any:
        return request_json(
            method,
            url,
            allow_private=self.allow_private,
            headers=headers,
            form=form,
            timeout=self.timeout,
        )


# -- shapes -------------------------------------------------------------------------------------


def _last(count: int, size: int, position: int, total: int | None) -> bool:
    """Whether a page was the last: the peer's total is reached, or (without a total) it was
    short. A short page before the total is not the end: a peer may cap the page size
    (Kutt's 50), so the next request asks again from the new position."""
    if total is not None:
        return position >= total
    return count < size


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _integer(value: Any) -> int | None:
    """A count as peers write it (YOURLS writes numbers as strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; none is UTC), or YOURLS' ``Y-m-d H:i:s``."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _link_order(item: tuple[str, Any]) -> int:
    """YOURLS numbers its answer's keys ``link_1``, ``link_2``...; keep that order."""
    number = item[0].rpartition("_")[2]
    return int(number) if number.isdigit() else 0


def _yourls_message(answer: Any) -> str:
    message = _get(answer, "message") if isinstance(answer, dict) else None
    return f"YOURLS refused: {message}" if message else "YOURLS answered without stats."


def _yourls_link(item: Any) -> PeerLink:
    if not isinstance(item, dict):
        return PeerLink("", "", problem="YOURLS listed a link that is not an object.")
    short = _text(item.get("shorturl"))
    slug = urlsplit(short).path.rstrip("/").rpartition("/")[2] if short else ""
    return PeerLink(
        slug=slug,
        url=_text(item.get("url")),
        title=_text(item.get("title")),
        created_at=_moment(item.get("timestamp")),
        visits=_integer(item.get("clicks")),
    )


def _kutt_link(item: Any) -> PeerLink:
    if not isinstance(item, dict):
        return PeerLink("", "", problem="Kutt listed a link that is not an object.")
    problem = ""
    if item.get("password"):
        problem = "password-protected on the peer (its API never shows the password)"
    elif item.get("banned"):
        problem = "banned on the peer"
    return PeerLink(
        slug=_text(item.get("address")),
        url=_text(item.get("target")),
        title=_text(item.get("description")),
        expires_at=_moment(item.get("expire_in")),
        created_at=_moment(item.get("created_at")),
        visits=_integer(item.get("visit_count")),
        problem=problem,
    )


def _shlink_link(item: Any) -> PeerLink:
    if not isinstance(item, dict):
        return PeerLink("", "", problem="Shlink listed a link that is not an object.")
    meta: dict[str, Any] = item["meta"] if isinstance(item.get("meta"), dict) else {}
    tags: list[Any] = item["tags"] if isinstance(item.get("tags"), list) else []
    visits = _get(item, "visitsSummary", "total")
    if visits is None:
        visits = item.get("visitsCount")  # Shlink before 3.4
    return PeerLink(
        slug=_text(item.get("shortCode")),
        url=_text(item.get("longUrl")),
        title=_text(item.get("title")),
        tags=tuple(tag for tag in tags if isinstance(tag, str)),
        expires_at=_moment(meta.get("validUntil")),
        max_visits=_integer(meta.get("maxVisits")),
        created_at=_moment(item.get("dateCreated")),
        visits=_integer(visits),
        crawlable=item.get("crawlable") is True,
        forward_query=item.get("forwardQuery", True) is not False,
    )


__all__ = ["PEERS", "Page", "Peer", "PeerError", "PeerLink"]
