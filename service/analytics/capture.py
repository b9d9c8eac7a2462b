"""Click capture: turn one served redirect into one event, cheaply and privately.

:func:`build_event` makes the event from the request; the ``link_visited`` subscriber
(:func:`on_link_visited`, connected by :class:`~.extension.Analytics`) appends it to the
process's spool file. Nothing here touches the network: the redirect pays for a few dict
look-ups, one HMAC, one ``json.dumps`` and one ``write(2)``.

An event is a flat JSON object (short keys, one line in the spool and one Redis Stream field):

``v``    format version (1)
``id``   event id, 32 hex digits; the worker counts each id once. From the request id our
         trusted proxy set (a hash of it), so a GET that nginx retries on a second replica
         after the first one had already spooled the click is one event; without such an
         id, 64 random bits per process, then a per-process counter
``link`` the link's id: the key the worker counts under (a renamed link keeps its
         clicks, a new link reusing a slug starts from none)
``slug`` the link's slug at the time of the click (events without ``link`` are resolved
         by it)
``ts``   Unix time in seconds (milliseconds precision)
``ref``  referrer host, lower-cased, without ``www.`` (``""``: none or not recorded)
``br`` / ``os`` / ``dev``  browser, OS and device family from ua-parser (``""``: not recorded;
         ``dev`` is ``"Desktop"`` for a person on a desktop OS, whom ua-parser calls "Other")
``bot``  1 when the user agent is a crawler, a monitor or a scripted client, else 0
``cc``   ISO country code from the configured header, believed only when the request came
         from a trusted proxy (``""``: none, not recorded, or sent by the client itself)
``ip``   visitor hash: HMAC-SHA256 of the client IP keyed with the day's random salt
         (:mod:`.salt`), truncated to 128 bits (``""``: not recorded, or no salt because
         Redis could not be asked). The raw IP is never written anywhere; the salt is
         random per UTC day and deleted from Redis after two days, so the same visitor
         has unrelated hashes on two days, and once the salt is gone no one can recompute
         a hash from an address.

Privacy: ``ANALYTICS_CAPTURE_REFERRER`` / ``_USER_AGENT`` / ``_COUNTRY`` turn single fields
off; a request with ``DNT: 1`` or ``Sec-GPC: 1`` records none of them and no visitor hash,
but the click itself (link, time, bot flag) is still counted.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import ua_parser

from ..app import is_trusted_proxy
from .models import MAX_VALUE_LENGTH
from .salt import DEFAULT_TTL, DailySalts

logger = logging.getLogger(__name__)

EVENT_VERSION = 1


class _EventIds:
    """Unique event ids without a syscall per click: 16 random hex digits drawn once per
    process (again in a forked child), then a 16-digit counter."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"

    def of(self, request: Any) -> str:
        """The request's event id: derived from the trusted proxy's request id when there is
        one (the same across nginx's retries), else the next unique id."""
        proxy_id = getattr(request, "proxy_request_id", None)
        if proxy_id:
            return hashlib.blake2b(proxy_id.encode(), digest_size=16).hexdigest()
        return self.next()


_event_ids = _EventIds()
#: User agents longer than this are cut before parsing (bounds regex work and cache memory).
MAX_USER_AGENT = 512
#: What ua-parser does not flag as a spider but we still count apart: crawlers it misses,
#: link previewers, uptime monitors, headless browsers and scripted HTTP clients.
BOT_PATTERN = re.compile(
    r"(?<!cu)bot\b|crawl|spider|slurp|scrape|preview|monitor|uptime|headless|phantomjs"
    r"|lighthouse|curl/|wget/|httpie|python-|aiohttp|go-http-client|java/|okhttp|libwww"
    r"|axios|node-fetch|guzzle|facebookexternalhit|whatsapp|telegram|discord|embedly",
    re.IGNORECASE,
)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
#: ua-parser's OS families of desktop and laptop systems. ua-parser names no device for a
#: desktop browser (its device family is ``"Other"``; ``"Mac"`` for a Macintosh), so a
#: person on one of these is counted as a :data:`DESKTOP` device instead.
DESKTOP_SYSTEMS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "macOS",
        "Linux",
        "Ubuntu",
        "Debian",
        "Fedora",
        "Red Hat",
        "SUSE",
        "Arch Linux",
        "Linux Mint",
        "Mint",
        "Gentoo",
        "Slackware",
        "Mandriva",
        "CentOS",
        "Chrome OS",
        "ChromeOS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)
#: The device family recorded for a person on a :data:`DESKTOP_SYSTEMS` system.
DESKTOP = "Desktop"
#: ua-parser's device families that mean "a desktop or laptop computer, model unknown".
_UNNAMED_COMPUTERS = frozenset({"Other", "Mac"})


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """What :func:`build_event` records; made once per app from its config."""

    #: Where the day's visitor-hash salt comes from.
    salts: DailySalts
    referrer: bool = True
    user_agent: bool = True
    country: bool = True
    #: Header carrying the visitor's country, set by a trusted proxy; ``""``: off.
    country_header: str = ""
    #: Peers whose country header is believed (``TRUSTED_PROXIES``).
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any) -> CaptureSettings:
        return cls(
            salts=DailySalts(
                str(config.get("REDIS_URL") or "redis://127.0.0.1:6379/0"),
                socket_timeout=float(config.get("REDIS_SOCKET_TIMEOUT", 1.0)),
                ttl=int(config.get("ANALYTICS_SALT_TTL", DEFAULT_TTL)),
            ),
            trusted_proxies=tuple(config.get("TRUSTED_PROXIES") or ()),
            referrer=bool(config["ANALYTICS_CAPTURE_REFERRER"]),
            user_agent=bool(config["ANALYTICS_CAPTURE_USER_AGENT"]),
            country=bool(config["ANALYTICS_CAPTURE_COUNTRY"]),
            country_header=str(config["ANALYTICS_COUNTRY_HEADER"] or "").strip(),
        )


def referrer_host(referrer: str | None) -> str:
    """The host of a ``Referer`` header, lower-cased and without ``www.``; ``""`` if none."""
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer.strip()).hostname or ""
    except ValueError:
        return ""
    if host.startswith("www."):
        host = host[4:]
    return host[:MAX_VALUE_LENGTH]


@functools.lru_cache(maxsize=4096)
def parse_user_agent(user_agent: str) -> tuple[str, str, str, bool]:
    """(browser, OS, device, is_bot) of a user agent; cached, since a few agents make up
    most traffic. Unknown families are ua-parser's ``"Other"``; a person (not a bot) whose
    device ua-parser cannot name, on a desktop system, is on a :data:`DESKTOP`."""
    if not user_agent:
        return "Other", "Other", "Other", True  # no user agent at all: a script, not a person
    result = ua_parser.parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    system = result.os.family if result.os else "Other"
    device = result.device.family if result.device else "Other"
    bot = device == "Spider" or BOT_PATTERN.search(user_agent) is not None
    if not bot and device in _UNNAMED_COMPUTERS and system in DESKTOP_SYSTEMS:
        device = DESKTOP
    return browser[:MAX_VALUE_LENGTH], system[:MAX_VALUE_LENGTH], device[:MAX_VALUE_LENGTH], bot


def daily_salt(salts: DailySalts, day: int) -> bytes | None:
    """The visitor-hash key of UTC day ``day`` (days since the epoch): random, shared by
    every replica through Redis, gone after its TTL; None while Redis cannot be asked."""
    return salts.get(day)


def visitor_hash(salts: DailySalts, client_ip: str, now: float) -> str:
    """The visitor's pseudonym for the UTC day of ``now``: 32 hex digits, never the IP;
    ``""`` when there is no address or no salt (never a salt made up locally)."""
    if not client_ip:
        return ""
    salt = daily_salt(salts, int(now // 86400))
    return "" if salt is None else _keyed_hash(salt, client_ip)


@functools.lru_cache(maxsize=16384)
def _keyed_hash(salt: bytes, client_ip: str) -> str:
    """Cached per (day's salt, address): returning visitors cost a dict lookup."""
    return hmac.digest(salt, client_ip.encode(), "sha256")[:16].hex()


@functools.lru_cache(maxsize=4096)
def _referrer_json(referrer: str) -> str:
    """The ``ref`` value of a ``Referer`` header as JSON (cached: a few referrers repeat)."""
    return json.dumps(referrer_host(referrer))


@functools.lru_cache(maxsize=4096)
def _agent_json(user_agent: str) -> tuple[str, int]:
    """The ``br``/``os``/``dev`` members of a user agent as JSON, and its bot flag."""
    browser, system, device, bot = parse_user_agent(user_agent)
    members = f'"br":{json.dumps(browser)},"os":{json.dumps(system)},"dev":{json.dumps(device)}'
    return members, 1 if bot else 0


@functools.lru_cache(maxsize=65536)
def _text_json(text: str) -> str:
    return json.dumps(text)


_NO_AGENT = '"br":"","os":"","dev":""'


@functools.lru_cache(maxsize=16)
def _environ_key(header: str) -> str:
    """The WSGI environ key of an HTTP header (``CF-IPCountry`` -> ``HTTP_CF_IPCOUNTRY``)."""
    return "HTTP_" + header.upper().replace("-", "_")


def trusted_country(environ: Any, header: str, trusted_proxies: tuple[str, ...]) -> str:
    """The visitor's ISO country code from ``header`` (``ANALYTICS_COUNTRY_HEADER``), believed
    only when the request came from a trusted proxy (nginx strips the client's own); ``""``
    when there is none, it is malformed or the header is not configured. Analytics records
    it, redirect rules compare it."""
    if not header or not is_trusted_proxy(environ.get("REMOTE_ADDR", ""), trusted_proxies):
        return ""
    country = environ.get(_environ_key(header), "").strip().upper()
    return country if _COUNTRY.match(country) else ""


def event_line(
    request: Any,
    slug: str,
    settings: CaptureSettings,
    now: float | None = None,
    link_id: int | None = None,
) -> bytes:
    """The spool line of one click on ``slug`` (link ``link_id``): the event as compact JSON
    and ``\n``.

    This is the redirect's cost of analytics, so it reads the WSGI environ directly and
    caches the JSON of what repeats (user agents, referrers, slugs); :func:`build_event`
    gives the same event as a dict.
    """
    moment = time.time() if now is None else now
    environ = request.environ
    agent, bot = _agent_json(environ.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT])
    dnt = environ.get("HTTP_DNT")
    gpc = environ.get("HTTP_SEC_GPC")
    private = (dnt is not None and dnt.strip() == "1") or (gpc is not None and gpc.strip() == "1")
    ref = cc = ip = ""
    ref_json = '""'
    if private:
        agent = _NO_AGENT
    else:
        if settings.referrer:
            ref = environ.get("HTTP_REFERER", "")
            if ref:
                ref_json = _referrer_json(ref[:MAX_USER_AGENT])
        if not settings.user_agent:
            agent = _NO_AGENT
        if settings.country:
            cc = trusted_country(environ, settings.country_header, settings.trusted_proxies)
        ip = visitor_hash(settings.salts, request.client_ip, moment)
    link = "" if link_id is None else f'"link":{int(link_id)},'
    return (
        f'{{"v":{EVENT_VERSION},"id":"{_event_ids.of(request)}",{link}"slug":{_text_json(slug)},'
        f'"ts":{moment:.3f},"ref":{ref_json},{agent},"bot":{bot},"cc":"{cc}","ip":"{ip}"}}\n'
    ).encode()


def build_event(
    request: Any,
    slug: str,
    settings: CaptureSettings,
    now: float | None = None,
    link_id: int | None = None,
) -> dict[str, Any]:
    """The event of one click on ``slug`` as a dict (see the module docstring)."""
    event: dict[str, Any] = json.loads(event_line(request, slug, settings, now, link_id))
    return event


def encode_event(event: dict[str, Any]) -> bytes:
    """One spool line from an event dict: compact JSON (which escapes any newline), ``\n``."""
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


#: Key of the analytics state in ``app.extensions`` (see :class:`~.extension.Analytics`).
EXTENSION_NAME = "linkfleet.analytics"


def on_link_visited(sender: Any, **kwargs: Any) -> None:
    """The ``link_visited`` subscriber: append the click to this process's spool.

    Never raises: a failure to record (say, a full disk) is logged and counted, and the
    visitor still gets the redirect.
    """
    state = sender.extensions.get(EXTENSION_NAME)
    if state is None or not state.enabled:
        return
    try:
        line = event_line(
            kwargs["request"], kwargs["slug"], state.capture, link_id=kwargs.get("link_id")
        )
        state.append(line)
    except Exception:
        state.capture_failed()


__all__ = [
    "DESKTOP",
    "DESKTOP_SYSTEMS",
    "CaptureSettings",
    "build_event",
    "daily_salt",
    "encode_event",
    "event_line",
    "on_link_visited",
    "parse_user_agent",
    "referrer_host",
    "trusted_country",
    "visitor_hash",
]
