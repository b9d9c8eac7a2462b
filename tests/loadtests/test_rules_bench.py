"""The hot path's rules case without running the benchmark: the seeded link really has five
rules of which only the last matches the bench's request, and the figures are computed and
reported next to the plain redirect (``test_bench_smoke`` runs it all, as root)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from loadtests.hotpath import Series, rules_ratios
from loadtests.scaling import rules_lines
from loadtests.seed import RULES, RULES_QUERY, RULES_SLUG, RULES_TARGET, rules_link
from service.links.cache import link_cache


def test_the_bench_request_matches_only_the_last_of_five_rules(
    app: Flask, client: FlaskClient
) -> None:
    assert rules_link(app) == RULES_SLUG
    assert rules_link(app) == RULES_SLUG  # a second seeding resets the same link
    with app.app_context():
        record = link_cache.lookup(RULES_SLUG)
    assert record is not None
    assert len(record.rules) == 5
    assert len({condition.kind for rule in record.rules for condition in rule.conditions}) == 5
    response = client.get(f"/{RULES_SLUG}?{RULES_QUERY}")
    assert response.headers["Location"] == RULES_TARGET == RULES[-1]["url"]
    assert client.get(f"/{RULES_SLUG}").headers["Location"] == "https://example.org/articles/rules"


def test_the_rules_series_is_reported_against_the_plain_redirect() -> None:
    plain = Series(rps=1000.0, cpu_seconds_per_request=300e-6, runs=[1000.0, 1100.0])
    rules = Series(rps=900.0, cpu_seconds_per_request=330e-6, runs=[880.0, 990.0])
    ratios = rules_ratios({"redirect": plain, "rules": rules})
    assert ratios == {
        "rules_vs_redirect": 0.9,
        "rules_vs_redirect_rounds": [0.88, 0.9],
        "rules_vs_redirect_cpu": 0.909,
    }
    (line,) = rules_lines(ratios)
    assert line.startswith("- **rules_vs_redirect 0.900** (a link with five redirect rules")
    assert "rounds: 0.88, 0.90; per replica CPU-second: 0.909)" in line
    assert rules_lines({}) == []  # a summary from before the series
