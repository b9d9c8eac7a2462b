"""A short URL's redirect rules in Shlink's terms, over LinkFleet's own (``Link.rules``,
:mod:`service.links.rules`).

Shlink's rule is ``{longUrl, priority, conditions: [{type, matchKey, matchValue}]}``;
LinkFleet's is ``{url, conditions: [{type, value[, name]}]}`` in list order. This module only
renames: what a value may be, the limits and the storing are the links service's
(:func:`~service.links.services.update_link` with ``rules=``, which validates, commits and
invalidates the cached link on every replica), so a rule set here redirects exactly like one
set on ``/api/v1`` or in the dashboard. Shlink's condition types LinkFleet cannot express
are refused as ``invalid-data`` naming the condition (docs/SHLINK.md, "Redirect rules").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import jsonify
from werkzeug.wrappers import Response

from ..links.models import Link
from ..links.rules import Condition, compile_rules
from ..links.services import update_link
from . import V3, bp, inputs
from .auth import with_key
from .errors import invalid_data, refused
from .short_urls import find

#: Shlink's condition type -> LinkFleet's.
CONDITION_TYPES = {
    "device": "device",
    "browser": "browser",
    "language": "language",
    "query-param": "query",
    "geolocation-country-code": "country",
    "ip-address": "network",
    "before-date": "before",
    "after-date": "after",
}
_SHLINK_TYPES = {ours: theirs for theirs, ours in CONDITION_TYPES.items()}
_QUERY_VALUE = "LinkFleet matches a query parameter by name and value; use query-param."
#: Shlink's condition types LinkFleet has no condition for, and what to say.
UNSUPPORTED_TYPES = {
    "geolocation-city-name": "LinkFleet knows a visitor's country, never the city; "
    "use geolocation-country-code.",
    "any-value-query-param": _QUERY_VALUE,
    "valueless-query-param": _QUERY_VALUE,
}
#: Shlink's browser names -> ua-parser's family as LinkFleet compares it.
BROWSERS = {
    "chrome": "chrome",
    "firefox": "firefox",
    "edge": "edge",
    "safari": "safari",
    "opera": "opera",
    "android_browser": "android",
}
_SHLINK_BROWSERS = {ours: theirs for theirs, ours in BROWSERS.items()}


def _network(value: Any) -> Any:
    """Shlink's IPv4 pattern with trailing wildcards (``192.168.*.*``) as a CIDR network;
    anything else as sent, for the links service to check."""
    if not isinstance(value, str) or "*" not in value:
        return value
    parts = value.strip().split(".")
    if len(parts) != 4 or "*" not in parts:
        return value
    fixed = parts.index("*")
    if any(part != "*" for part in parts[fixed:]) or "*" in "".join(parts[:fixed]):
        return value
    return ".".join(parts[:fixed] + ["0"] * (4 - fixed)) + f"/{8 * fixed}"


def _condition(raw: Any, where: str) -> dict[str, Any]:
    """One Shlink condition in LinkFleet's submitted form; raises ``ValueError`` (message)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: give a condition as an object with type and matchValue.")
    kind = raw.get("type")
    if isinstance(kind, str) and kind in UNSUPPORTED_TYPES:
        raise ValueError(f"{where}: LinkFleet cannot match {kind}. {UNSUPPORTED_TYPES[kind]}")
    if not isinstance(kind, str) or kind not in CONDITION_TYPES:
        raise ValueError(
            f"{where}: unknown condition type; use one of {', '.join(CONDITION_TYPES)}."
        )
    ours = CONDITION_TYPES[kind]
    value = raw.get("matchValue")
    if ours == "browser" and isinstance(value, str):
        value = BROWSERS.get(value.strip().lower(), value)
    elif ours == "network":
        value = _network(value)
    condition = {"type": ours, "value": value}
    if ours == "query":
        condition["name"] = raw.get("matchKey") or ""
    return condition


def to_linkfleet(value: Any) -> list[dict[str, Any]]:
    """Shlink's ``redirectRules`` (None: none) as the rules :func:`update_link` takes, in
    their order (Shlink's ``priority`` is the position); a condition LinkFleet cannot
    express is ``invalid-data`` keyed ``redirectRules.<rule>.conditions.<condition>``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise refused("redirectRules", "Give the redirect rules as a list.")
    errors: dict[str, str] = {}
    rules: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        if not isinstance(raw, Mapping):
            errors[f"redirectRules.{index}"] = (
                f"Rule {index + 1}: give a rule as an object with longUrl and conditions."
            )
            continue
        conditions = raw.get("conditions")
        if isinstance(conditions, list):
            checked = []
            for position, condition in enumerate(conditions):
                where = f"Rule {index + 1}, condition {position + 1}"
                try:
                    checked.append(_condition(condition, where))
                except ValueError as error:
                    errors[f"redirectRules.{index}.conditions.{position}"] = str(error)
            conditions = checked
        rules.append({"url": raw.get("longUrl"), "conditions": conditions})
    if errors:
        raise invalid_data(errors)
    return rules


def _condition_json(condition: Condition, stored: Mapping[str, Any]) -> dict[str, Any]:
    kind, value = condition.kind, stored["value"]
    if kind == "browser":
        value = _SHLINK_BROWSERS.get(value, value)
    elif kind == "network" and condition.arg.num_addresses == 1:
        value = str(condition.arg.network_address)
    return {
        "type": _SHLINK_TYPES[kind],
        "matchKey": condition.name if kind == "query" else None,
        "matchValue": value,
    }


def to_shlink(stored: Any) -> list[dict[str, Any]]:
    """The link's rules as Shlink lists them, ``priority`` from 1 in their order (those the
    redirect evaluates: :func:`compile_rules` leaves out what it cannot read)."""
    return [
        {
            "longUrl": rule.url,
            "priority": position,
            "conditions": [
                _condition_json(condition, raw)
                for condition, raw in zip(rule.conditions, rule.stored["conditions"], strict=True)
            ],
        }
        for position, rule in enumerate(compile_rules(stored), start=1)
    ]


def _answer(link: Link) -> Response:
    return jsonify(defaultLongUrl=link.url, redirectRules=to_shlink(link.rules))


@bp.route(f"{V3}/short-urls/<short_code>/redirect-rules", methods=["GET"])
@with_key("read")
def redirect_rules(short_code: str) -> Response:
    return _answer(find(short_code))


@bp.route(f"{V3}/short-urls/<short_code>/redirect-rules", methods=["POST"])
@with_key("write")
def set_redirect_rules(short_code: str) -> Response:
    """Replace the rules (none or ``[]``: remove them all) through the links service."""
    link = find(short_code)
    rules = to_linkfleet(inputs.body().get("redirectRules"))
    return _answer(update_link(link, rules=rules))
