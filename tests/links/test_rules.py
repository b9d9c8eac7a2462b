"""Redirect rules without a server: what :func:`check_rules` accepts and refuses (every
problem keyed by its path and naming its rule and condition), how the stored form compiles,
and how a :class:`Visitor` reads a real request (werkzeug's environ builder)."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from service.app import LinkFleetRequest
from service.links.errors import ValidationError
from service.links.rules import (
    MAX_CONDITIONS,
    MAX_RULES,
    Visitor,
    accepted_languages,
    browser_names,
    check_rules,
    compile_rules,
    pick,
)

TARGET = "https://example.com/t"


def one(*conditions: dict[str, Any], url: str = TARGET) -> list[dict[str, Any]]:
    return [{"url": url, "conditions": list(conditions)}]


def problems(value: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        check_rules(value, own_hosts=frozenset({"sho.rt"}))
    return raised.value.errors


def test_no_rules() -> None:
    assert check_rules(None) == []
    assert check_rules([]) == []


def test_values_are_normalised() -> None:
    stored = check_rules(
        one(
            {"type": "device", "value": " iOS "},
            {"type": "browser", "value": "Firefox"},
            {"type": "language", "value": "pt-BR"},
            {"type": "country", "value": "fr"},
            {"type": "query", "name": "utm_source", "value": "Mail"},
            {"type": "after", "value": "2026-12-24T18:00:00+01:00"},
            {"type": "before", "value": "2026-12-25T00:00"},
            {"type": "network", "value": "203.0.113.9/24"},
            url="HTTPS://Example.COM/t",
        )
    )
    assert stored == [
        {
            "url": "https://example.com/t",
            "conditions": [
                {"type": "device", "value": "ios"},
                {"type": "browser", "value": "firefox"},
                {"type": "language", "value": "pt-br"},
                {"type": "country", "value": "FR"},
                {"type": "query", "name": "utm_source", "value": "Mail"},
                {"type": "after", "value": "2026-12-24T17:00:00+00:00"},
                {"type": "before", "value": "2026-12-25T00:00:00+00:00"},
                {"type": "network", "value": "203.0.113.0/24"},
            ],
        }
    ]
    assert check_rules(stored) == stored  # a second check changes nothing


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"type": "device", "value": "tv"}, "(device): Choose one of ios, android, desktop."),
        ({"type": "browser", "value": "<b>"}, "(browser): Give a browser family"),
        ({"type": "language", "value": "french!"}, "(language): Give a language tag"),
        ({"type": "country", "value": "FRA"}, "(country): Give a two-letter ISO 3166"),
        ({"type": "query", "value": "x"}, "(query): Give the name of the query parameter."),
        ({"type": "after", "value": "tomorrow"}, "(after): Give an ISO 8601 date and time"),
        ({"type": "network", "value": "10.0.0.0/33"}, "(network): Give an address or network"),
        ({"type": "colour", "value": "red"}, "condition 1: Unknown condition type"),
        ({"type": "device"}, "(device): Give a value."),
        ({"type": "country", "value": ""}, "(country): Give"),
        ({"type": "device", "value": "ios", "name": "x"}, "(device): Unknown key name."),
        ({"type": "device", "value": 3}, "(device): The value must be text."),
        ({"type": "query", "name": "a\x00", "value": "x"}, "must not contain control"),
        ("device=ios", "condition 1: Give a condition as an object"),
    ],
)
def test_a_bad_condition_names_its_rule_and_condition(condition: Any, message: str) -> None:
    rules = [one({"type": "device", "value": "ios"})[0], one(condition)[0]]
    errors = problems(rules)
    assert list(errors) == ["rules.1.conditions.0"]
    assert errors["rules.1.conditions.0"].startswith("Rule 2, condition 1")
    assert message in errors["rules.1.conditions.0"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/file", "Only http:// and https:// links are allowed."),
        ("javascript:alert(1)", "Only http:// and https:// links are allowed."),
        ("https://sho.rt/abc", "short link"),
        (None, ""),
    ],
)
def test_a_rule_target_is_checked_like_a_link_url(url: Any, message: str) -> None:
    errors = problems(one({"type": "device", "value": "ios"}, url=url))
    assert list(errors) == ["rules.0.url"]
    assert errors["rules.0.url"].startswith("Rule 1, target: ")
    assert message in errors["rules.0.url"]


def test_every_problem_at_once() -> None:
    errors = problems(
        [
            {"url": "ftp://x", "conditions": [{"type": "device", "value": "tv"}]},
            {"url": TARGET, "conditions": []},
            {"url": TARGET, "conditions": [{"type": "country", "value": "X"}], "when": 1},
            "https://example.com/",
        ]
    )
    assert errors == {
        "rules.0.url": "Rule 1, target: Only http:// and https:// links are allowed.",
        "rules.0.conditions.0": (
            "Rule 1, condition 1 (device): Choose one of ios, android, desktop."
        ),
        "rules.1.conditions": "Rule 2: give at least one condition.",
        "rules.2": "Rule 3: unknown key when.",
        "rules.3": "Rule 4: give a rule as an object with url and conditions.",
    }


def test_limits() -> None:
    condition = {"type": "device", "value": "ios"}
    assert len(check_rules(one(condition) * MAX_RULES)) == MAX_RULES
    assert problems(one(condition) * (MAX_RULES + 1)) == {"rules": "Use at most 10 rules."}
    assert len(check_rules(one(*[condition] * MAX_CONDITIONS))[0]["conditions"]) == 8
    assert problems(one(*[condition] * (MAX_CONDITIONS + 1))) == {
        "rules.0.conditions": "Rule 1: use at most 8 conditions in a rule."
    }
    assert problems({"url": TARGET}) == {"rules": "Give the rules as a list."}
    assert problems("[]") == {"rules": "Give the rules as a list."}


def test_a_window_must_not_end_before_it_starts() -> None:
    errors = problems(
        one(
            {"type": "after", "value": "2026-12-25T00:00Z"},
            {"type": "before", "value": "2026-12-24T00:00Z"},
        )
    )
    assert errors == {"rules.0.conditions": "Rule 1: the time window ends before it starts."}


def visitor(now: float = 0.0, **builder: Any) -> Visitor:
    """A visitor of a real request built by werkzeug; 127.0.0.1, the peer, is trusted."""
    builder.setdefault("environ_base", {"REMOTE_ADDR": "127.0.0.1"})
    request = LinkFleetRequest(EnvironBuilder(path="/x", **builder).get_environ())
    request.trusted_proxies = ("127.0.0.1",)
    return Visitor(request, "CF-IPCountry", now=now)


def test_pick_takes_the_first_rule_whose_conditions_all_match() -> None:
    rules = compile_rules(
        [
            {
                "url": "https://example.com/a",
                "conditions": [
                    {"type": "country", "value": "FR"},
                    {"type": "query", "name": "v", "value": "2"},
                ],
            },
            {"url": "https://example.com/b", "conditions": [{"type": "country", "value": "FR"}]},
            {"url": "https://example.com/c", "conditions": [{"type": "country", "value": "FR"}]},
        ]
    )
    french = {"headers": {"CF-IPCountry": "fr"}}
    assert pick(rules, visitor(**french, query_string="v=2")).url == "https://example.com/a"
    assert pick(rules, visitor(**french, query_string="v=1")).url == "https://example.com/b"
    assert pick(rules, visitor(headers={"CF-IPCountry": "DE"})) is None


def test_the_time_window_is_half_open() -> None:
    rules = compile_rules(
        one(
            {"type": "after", "value": "2026-01-01T00:00:00+00:00"},
            {"type": "before", "value": "2026-01-02T00:00:00+00:00"},
        )
    )
    start, end = 1767225600.0, 1767312000.0
    assert pick(rules, visitor(now=start - 1)) is None
    assert pick(rules, visitor(now=start)) is not None
    assert pick(rules, visitor(now=end - 1)) is not None
    assert pick(rules, visitor(now=end)) is None


def test_unreadable_stored_rules_are_left_out() -> None:
    """Rules written into the database by hand must not break the redirect."""
    rules = compile_rules(
        [
            {"url": TARGET, "conditions": [{"type": "moon-phase", "value": "full"}]},
            {"url": TARGET, "conditions": [{"type": "after", "value": "soon"}]},
            {"url": TARGET, "conditions": []},
            "junk",
            {"url": "https://example.com/ok", "conditions": [{"type": "device", "value": "ios"}]},
        ]
    )
    assert [rule.url for rule in rules] == ["https://example.com/ok"]
    assert compile_rules(None) == ()


def test_accepted_languages() -> None:
    assert accepted_languages("fr-CA,fr;q=0.9, en;q=0.1") == {"fr-ca", "fr", "en"}
    assert accepted_languages("de;q=0, *;q=0.5, it;q=oops") == frozenset()
    assert accepted_languages("") == frozenset()


def test_browser_families_answer_without_their_platform() -> None:
    assert browser_names("Chrome Mobile iOS") == {"chrome mobile ios", "chrome"}
    assert browser_names("Mobile Safari") == {"mobile safari", "safari"}
    assert browser_names("Firefox") == {"firefox"}
