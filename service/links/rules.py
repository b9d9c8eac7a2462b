"""Redirect rules: per link, an ordered list of (conditions, target); the first rule whose
conditions all match the request decides the target, else the link's own URL.

Three stages, each in one place:

* :func:`check_rules` validates and normalises what a client submits (the API, the
  dashboard's editor, an import row) into the stored JSON form
  ``[{"url": ..., "conditions": [{"type": ..., "value": ...}, ...]}, ...]``; a problem is a
  :class:`~.errors.ValidationError` keyed by its dotted path (``rules.1.conditions.0``, the
  API's convention for nested fields) with a message that names the rule and condition.
* :func:`compile_rules` turns the stored form into immutable :class:`Rule` values once, when
  the cache builds a :class:`~.cache.LinkRecord` (never per request): timestamps parsed,
  networks built, target URLs encoded for ``Location``.
* :func:`pick` evaluates them against a :class:`Visitor`, which reads each fact of the
  request (user agent, languages, country, client address) at most once and only when a
  condition asks. Nothing here touches the database or Redis, and nothing is stored: the
  client address is compared, never kept.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.urls import iri_to_uri

from .errors import ValidationError
from .validation import validate_target_url

logger = logging.getLogger(__name__)

MAX_RULES = 10
MAX_CONDITIONS = 8
MAX_VALUE_LENGTH = 512
MAX_QUERY_NAME_LENGTH = 128
#: An ``Accept-Language`` header is cut here before parsing (bounds work and cache memory).
MAX_LANGUAGE_HEADER = 512
DEVICES = ("ios", "android", "desktop")
#: Every condition type, in the order the docs and the editor list them.
CONDITION_TYPES = (
    "device",
    "browser",
    "language",
    "country",
    "query",
    "before",
    "after",
    "network",
)
#: What the dashboard's rule editor needs to know (its data attributes).
RULE_EDITOR: dict[str, Any] = {
    "types": CONDITION_TYPES,
    "devices": DEVICES,
    "max_rules": MAX_RULES,
    "max_conditions": MAX_CONDITIONS,
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LANGUAGE = re.compile(r"^[a-z]{1,8}(?:-[a-z0-9]{1,8})*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_BROWSER = re.compile(r"^[a-z0-9][a-z0-9 ._-]{0,63}$")
#: Words of ua-parser browser families that name a platform, not the browser.
_PLATFORM_WORDS = frozenset({"mobile", "ios", "webview"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Bad(Exception):
    """Internal: a message about the condition or rule being checked."""


# -- checking what clients submit -----------------------------------------------------------------


def _text(value: Any, what: str, max_length: int = MAX_VALUE_LENGTH) -> str:
    if not isinstance(value, str):
        raise _Bad(f"The {what} must be text.")
    if _CONTROL.search(value):
        raise _Bad(f"The {what} must not contain control characters.")
    if len(value) > max_length:
        raise _Bad(f"The {what} may have at most {max_length} characters.")
    return value.strip()


def _moment(value: Any) -> str:
    text = _text(value, "date and time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Bad("Give an ISO 8601 date and time, e.g. 2026-12-24T18:00:00Z.") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat()


def _normal_value(kind: str, value: Any) -> str:
    """The stored form of a condition's value, or :class:`_Bad`."""
    if kind in ("before", "after"):
        return _moment(value)
    text = _text(value, "value")
    if kind == "device":
        if text.lower() not in DEVICES:
            raise _Bad(f"Choose one of {', '.join(DEVICES)}.")
        return text.lower()
    if kind == "browser":
        if not _BROWSER.fullmatch(text.lower()):
            raise _Bad("Give a browser family such as chrome, firefox, safari or edge.")
        return text.lower()
    if kind == "language":
        if not _LANGUAGE.fullmatch(text.lower()):
            raise _Bad("Give a language tag such as fr or pt-BR.")
        return text.lower()
    if kind == "country":
        if not _COUNTRY.fullmatch(text.upper()):
            raise _Bad("Give a two-letter ISO 3166 country code such as FR.")
        return text.upper()
    if kind == "network":
        try:
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise _Bad(
                "Give an address or network such as 203.0.113.0/24 or 2001:db8::/32."
            ) from None
    return text  # query: any value, compared as sent


def _check_condition(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise _Bad('Give a condition as an object: {"type": ..., "value": ...}.')
    kind = raw.get("type")
    if kind not in CONDITION_TYPES:
        raise _Bad(f"Unknown condition type; use one of {', '.join(CONDITION_TYPES)}.")
    allowed = {"type", "value", "name"} if kind == "query" else {"type", "value"}
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if unknown:
        raise _Bad(f"Unknown key {', '.join(unknown)}.")
    if "value" not in raw:
        raise _Bad("Give a value.")
    condition = {"type": kind, "value": _normal_value(kind, raw["value"])}
    if kind == "query":
        name = _text(raw.get("name", ""), "parameter name", MAX_QUERY_NAME_LENGTH)
        if not name:
            raise _Bad("Give the name of the query parameter.")
        condition["name"] = name
    elif not condition["value"]:
        raise _Bad("Give a value.")
    return condition


def _where(index: int, position: int | None = None, kind: Any = None) -> str:
    """How a message names its place: "Rule 2" or "Rule 2, condition 1 (country)"."""
    where = f"Rule {index + 1}"
    if position is not None:
        where += f", condition {position + 1}"
        if isinstance(kind, str) and kind in CONDITION_TYPES:
            where += f" ({kind})"
    return where


def _check_rule(index: int, raw: Any, own_hosts: frozenset[str], errors: dict[str, str]) -> Any:
    """One rule in its stored form; its problems added to ``errors`` (then None)."""
    path = f"rules.{index}"
    if not isinstance(raw, Mapping):
        errors[path] = f"{_where(index)}: give a rule as an object with url and conditions."
        return None
    unknown = sorted(str(key) for key in raw if key not in ("url", "conditions"))
    if unknown:
        errors[path] = f"{_where(index)}: unknown key {', '.join(unknown)}."
        return None
    found = len(errors)
    url = None
    try:
        url = validate_target_url(raw.get("url"), own_hosts=own_hosts)
    except ValidationError as error:
        errors[f"{path}.url"] = f"{_where(index)}, target: {error.errors['url']}"
    conditions = raw.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        errors[f"{path}.conditions"] = f"{_where(index)}: give at least one condition."
        return None
    if len(conditions) > MAX_CONDITIONS:
        errors[f"{path}.conditions"] = (
            f"{_where(index)}: use at most {MAX_CONDITIONS} conditions in a rule."
        )
        return None
    checked = []
    for position, condition in enumerate(conditions):
        kind = condition.get("type") if isinstance(condition, Mapping) else None
        try:
            checked.append(_check_condition(condition))
        except _Bad as bad:
            errors[f"{path}.conditions.{position}"] = f"{_where(index, position, kind)}: {bad}"
    window = {c["type"]: c["value"] for c in checked if c["type"] in ("before", "after")}
    if len(window) == 2 and window["after"] >= window["before"]:
        errors[f"{path}.conditions"] = f"{_where(index)}: the time window ends before it starts."
    if len(errors) > found:
        return None
    return {"url": url, "conditions": checked}


def check_rules(value: Any, own_hosts: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """``value`` in the stored form (None or empty: no rules); every problem at once as a
    :class:`ValidationError` keyed by path, e.g. ``{"rules.1.conditions.0": "Rule 2, ..."}``.

    A rule's target is checked like a link's URL (``own_hosts``: no loops back to us)."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise ValidationError({"rules": "Give the rules as a list."})
    if len(value) > MAX_RULES:
        raise ValidationError({"rules": f"Use at most {MAX_RULES} rules."})
    errors: dict[str, str] = {}
    rules = [_check_rule(index, raw, own_hosts, errors) for index, raw in enumerate(value)]
    if errors:
        raise ValidationError(errors)
    return rules


# -- compiled rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled condition: its type and the value in the form its test compares."""

    kind: str
    arg: Any
    #: The query parameter's name (query conditions only).
    name: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule; ``location`` is ``url`` in the URI form a ``Location`` needs."""

    url: str
    conditions: tuple[Condition, ...]
    location: str = field(compare=False)
    #: The stored form, for the L2 cache entry.
    stored: Mapping[str, Any] = field(compare=False, repr=False)


def _compile_condition(raw: Mapping[str, Any]) -> Condition:
    kind, value = raw["type"], raw["value"]
    if kind in ("before", "after"):
        return Condition(kind, datetime.fromisoformat(value).timestamp())
    if kind == "network":
        return Condition(kind, ipaddress.ip_network(value, strict=False))
    if kind == "query":
        return Condition(kind, str(value), name=str(raw["name"]))
    if kind not in CONDITION_TYPES:
        raise ValueError(kind)
    return Condition(kind, str(value))


def compile_rules(stored: Any) -> tuple[Rule, ...]:
    """The stored rules (a column or L2 value, None for none) ready to evaluate. A rule that
    cannot be read (written by hand into the database) is left out and logged: it could not
    match anything anyway."""
    rules: list[Rule] = []
    for raw in stored or ():
        try:
            conditions = tuple(_compile_condition(condition) for condition in raw["conditions"])
            url = str(raw["url"])
            if not conditions:
                raise ValueError("no conditions")
            rules.append(Rule(url, conditions, location=iri_to_uri(url), stored=raw))
        except (KeyError, TypeError, ValueError) as error:
            logger.warning("redirect rule left out, unreadable: %r (%s)", raw, error)
    return tuple(rules)


# -- evaluation -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def browser_names(family: str) -> frozenset[str]:
    """What a ua-parser browser family answers to: itself and without platform words
    (``Chrome Mobile iOS``: ``chrome mobile ios`` and ``chrome``; ``Mobile Safari``: also
    ``safari``), lower-cased."""
    lowered = family.lower()
    bare = " ".join(word for word in lowered.split() if word not in _PLATFORM_WORDS)
    return frozenset({lowered, bare} if bare else {lowered})


@functools.lru_cache(maxsize=1024)
def device_of(system: str, device: str) -> str:
    """``ios``, ``android``, ``desktop`` or ``""`` (anything else: bots, TVs, other phones)."""
    if device == "Spider":
        return ""
    if system in ("iOS", "iPadOS"):
        return "ios"
    if system == "Android":
        return "android"
    from ..analytics.capture import DESKTOP_SYSTEMS  # analytics imports the links services

    # The statistics' desktop systems; a headless browser on one is a desktop too.
    return "desktop" if system in DESKTOP_SYSTEMS else ""


@functools.lru_cache(maxsize=1024)
def accepted_languages(header: str) -> frozenset[str]:
    """The language tags of an ``Accept-Language`` header with q > 0, lower-cased, with their
    primary tags (``fr-CA,de;q=0`` → ``fr-ca``, ``fr``)."""
    tags: set[str] = set()
    for item in header[:MAX_LANGUAGE_HEADER].split(","):
        tag, _, params = item.partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        quality = params.strip()
        if quality.startswith("q="):
            try:
                if float(quality[2:]) <= 0:
                    continue
            except ValueError:
                continue
        tags.add(tag)
        tags.add(tag.split("-", 1)[0])
    return frozenset(tags)


class Visitor:
    """The facts rules ask of one request, each read once and only when asked.

    ``request`` is a :class:`~service.app.LinkFleetRequest` (its ``client_ip`` already
    resolved through the trusted proxy); ``country_header`` the app's
    ``ANALYTICS_COUNTRY_HEADER``, believed from a trusted proxy only.
    """

    __slots__ = ("_address", "_agent", "country_header", "now", "request")

    def __init__(self, request: Any, country_header: str = "", now: float | None = None) -> None:
        self.request = request
        self.country_header = country_header
        self.now = time.time() if now is None else now
        self._agent: tuple[str, str, str, bool] | None = None
        self._address: Any = False  # False: not read yet

    def _parsed_agent(self) -> tuple[str, str, str, bool]:
        if self._agent is None:
            from ..analytics import capture  # analytics imports the links services: not at load

            agent = self.request.environ.get("HTTP_USER_AGENT", "")[: capture.MAX_USER_AGENT]
            self._agent = capture.parse_user_agent(agent)
        return self._agent

    def device(self) -> str:
        _, system, device, _ = self._parsed_agent()
        return device_of(system, device)

    def browsers(self) -> frozenset[str]:
        return browser_names(self._parsed_agent()[0])

    def languages(self) -> frozenset[str]:
        return accepted_languages(self.request.environ.get("HTTP_ACCEPT_LANGUAGE", ""))

    def country(self) -> str:
        from ..analytics import capture  # analytics imports the links services: not at load

        environ = self.request.environ
        return capture.trusted_country(environ, self.country_header, self.request.trusted_proxies)

    def query(self, name: str) -> list[str]:
        return self.request.args.getlist(name)  # type: ignore[no-any-return]

    def address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        if self._address is False:
            try:
                address = ipaddress.ip_address(self.request.client_ip)
            except ValueError:
                address = None
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            self._address = address
        return self._address  # type: ignore[no-any-return]


def _in_network(visitor: Visitor, network: Network) -> bool:
    address = visitor.address()
    return address is not None and address.version == network.version and address in network


_TESTS: dict[str, Callable[[Visitor, Condition], bool]] = {
    "device": lambda visitor, c: visitor.device() == c.arg,
    "browser": lambda visitor, c: c.arg in visitor.browsers(),
    "language": lambda visitor, c: c.arg in visitor.languages(),
    "country": lambda visitor, c: visitor.country() == c.arg,
    "query": lambda visitor, c: c.arg in visitor.query(c.name),
    "before": lambda visitor, c: visitor.now < c.arg,
    "after": lambda visitor, c: visitor.now >= c.arg,
    "network": lambda visitor, c: _in_network(visitor, c.arg),
}


def pick(rules: tuple[Rule, ...], visitor: Visitor) -> Rule | None:
    """The first rule whose conditions all match, or None (the link's own URL)."""
    for rule in rules:
        if all(_TESTS[condition.kind](visitor, condition) for condition in rule.conditions):
            return rule
    return None


__all__ = [
    "CONDITION_TYPES",
    "DEVICES",
    "MAX_CONDITIONS",
    "MAX_RULES",
    "RULE_EDITOR",
    "Condition",
    "Rule",
    "Visitor",
    "accepted_languages",
    "browser_names",
    "check_rules",
    "compile_rules",
    "device_of",
    "pick",
]
