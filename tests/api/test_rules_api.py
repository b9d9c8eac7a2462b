"""The ``rules`` field through the REST API (create, read, patch, errors, limits, OpenAPI,
export and import), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import assert_problem
from tests.fixtures.accounts import AccountFactory, ApiClient

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
RULES = [
    {
        "url": "https://example.com/ios",
        "conditions": [{"type": "device", "value": "iOS"}, {"type": "country", "value": "fr"}],
    },
    {
        "url": "https://example.com/mail",
        "conditions": [{"type": "query", "name": "utm_source", "value": "mail"}],
    },
]
STORED = [
    {
        "url": "https://example.com/ios",
        "conditions": [{"type": "device", "value": "ios"}, {"type": "country", "value": "FR"}],
    },
    RULES[1],
]


@pytest.fixture
def app_config() -> dict[str, Any]:
    """The country header of our (test) proxy, as the docs' example assumes."""
    return {"ANALYTICS_COUNTRY_HEADER": "CF-IPCountry"}


def condition_rule(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"url": "https://example.com/r", "conditions": list(conditions)}


def test_create_read_patch_and_remove_rules(api: ApiClient) -> None:
    created = api.create(slug="ruled", rules=RULES)
    assert created["rules"] == STORED
    assert api.get("/api/v1/links/ruled").get_json()["rules"] == STORED
    assert api.client.get("/ruled?utm_source=mail").headers["Location"] == RULES[1]["url"]

    changed = api.patch("/api/v1/links/ruled", json={"rules": [RULES[1]]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["rules"] == [RULES[1]]
    assert api.patch("/api/v1/links/ruled", json={"title": "kept"}).get_json()["rules"] == [
        RULES[1]
    ]
    assert api.patch("/api/v1/links/ruled", json={"rules": None}).get_json()["rules"] == []
    assert api.client.get("/ruled?utm_source=mail").headers["Location"] == "https://example.com/"
    assert api.create(slug="plain")["rules"] == []


def test_a_bad_condition_is_a_problem_naming_rule_and_condition(api: ApiClient) -> None:
    bad = [RULES[0], condition_rule({"type": "device", "value": "ios"}, {"type": "country"})]
    body = assert_problem(
        api.post("/api/v1/links", json={"url": "https://a.example/", "rules": bad}), 422
    )
    assert body["errors"] == {"rules.1.conditions.1.value": ["Missing data for required field."]}

    bad = [condition_rule({"type": "country", "value": "France"})]
    body = assert_problem(
        api.post("/api/v1/links", json={"url": "https://a.example/", "rules": bad}), 422
    )
    assert body["errors"] == {
        "rules.0.conditions.0": [
            "Rule 1, condition 1 (country): Give a two-letter ISO 3166 country code such as FR."
        ]
    }
    api.create(slug="keep")
    body = assert_problem(
        api.patch(
            "/api/v1/links/keep",
            json={"rules": [condition_rule({"type": "network", "value": "10.0.0.300/8"})]},
        ),
        422,
    )
    assert list(body["errors"]) == ["rules.0.conditions.0"]
    assert "Rule 1, condition 1 (network)" in body["errors"]["rules.0.conditions.0"][0]


def test_shapes_and_unknown_keys_are_refused(api: ApiClient) -> None:
    cases: list[tuple[Any, str]] = [
        ({"url": "https://x.example/"}, "rules"),
        (
            [{"url": "https://x.example/", "conditions": [{"type": "moon", "value": "1"}]}],
            "rules.0.conditions.0.type",
        ),
        ([{"url": "https://x.example/", "conditions": [], "extra": 1}], "rules.0.extra"),
        ([{"url": "https://x.example/", "conditions": []}], "rules.0.conditions"),
        ([{"conditions": [{"type": "device", "value": "ios"}]}], "rules.0.url"),
    ]
    for rules, path in cases:
        response = api.post("/api/v1/links", json={"url": "https://a.example/", "rules": rules})
        assert path in assert_problem(response, 422)["errors"], (rules, response.get_json())


def test_rule_targets_are_checked_like_link_urls(api: ApiClient) -> None:
    for target in ("ftp://example.com/x", "javascript:alert(1)", "http://localhost/loop-back"):
        rules = [{"url": target, "conditions": [{"type": "device", "value": "ios"}]}]
        response = api.post("/api/v1/links", json={"url": "https://a.example/", "rules": rules})
        errors = assert_problem(response, 422)["errors"]
        assert list(errors) == ["rules.0.url"], errors
        assert errors["rules.0.url"][0].startswith("Rule 1, target: ")


def test_limits(api: ApiClient) -> None:
    condition = {"type": "device", "value": "ios"}
    ten = [condition_rule(condition)] * 10
    assert len(api.create(slug="ten", rules=ten)["rules"]) == 10
    response = api.post("/api/v1/links", json={"url": "https://a.example/", "rules": ten + ten[:1]})
    assert assert_problem(response, 422)["errors"] == {"rules": ["Longer than maximum length 10."]}
    eight = condition_rule(*[condition] * 8)
    assert len(api.create(slug="eight", rules=[eight])["rules"][0]["conditions"]) == 8
    nine = condition_rule(*[condition] * 9)
    response = api.post("/api/v1/links", json={"url": "https://a.example/", "rules": [nine]})
    assert assert_problem(response, 422)["errors"] == {
        "rules.0.conditions": ["Length must be between 1 and 8."]
    }


def test_the_openapi_document_describes_rules(api: ApiClient) -> None:
    spec = api.client.get("/api/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert schemas["LinkCreate"]["properties"]["rules"]["items"]["$ref"].endswith("/Rule")
    assert schemas["Link"]["properties"]["rules"]["type"] == "array"
    assert schemas["Rule"]["required"] == ["conditions", "url"]
    condition = schemas["RuleCondition"]["properties"]["type"]
    assert condition["enum"] == [
        "device", "browser", "language", "country", "query", "before", "after", "network"
    ]  # fmt: skip


def test_rules_survive_export_and_import(api: ApiClient, make_account: AccountFactory) -> None:
    api.create(slug="r1", rules=RULES, title="with rules")
    api.create(slug="r2")
    as_csv = api.get("/api/v1/links/export?format=csv").get_data()
    rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(as_csv.decode()))}
    assert rows["r2"]["rules"] == ""
    as_json = api.get("/api/v1/links/export?format=json").get_data()
    for slug in ("r1", "r2"):
        api.delete(f"/api/v1/links/{slug}")

    carol = make_account("carol@example.com")
    for body, content_type in ((as_csv, "text/csv"), (as_json, "application/json")):
        response = api.post(
            "/api/v1/links/import", key=carol.key, data=body, content_type=content_type
        )
        assert (response.get_json()["created"], response.get_json()["failed"]) == (2, 0)
        assert api.get("/api/v1/links/r1", key=carol.key).get_json()["rules"] == STORED
        assert api.get("/api/v1/links/r2", key=carol.key).get_json()["rules"] == []
        mail = api.client.get("/r1?utm_source=mail")
        assert mail.headers["Location"] == "https://example.com/mail"
        for slug in ("r1", "r2"):
            api.delete(f"/api/v1/links/{slug}", key=carol.key)


def test_a_bad_rules_cell_is_reported_per_row(api: ApiClient) -> None:
    body = (
        "slug,url,rules\r\n"
        "ok,https://ok.example/,\r\n"
        'broken,https://bad.example/,"[{""url"": 1"\r\n'
        'nocountry,https://bad.example/,"[{""url"": ""https://x.example/"", '
        '""conditions"": [{""type"": ""country"", ""value"": ""XYZ""}]}]"\r\n'
    )
    report = api.post("/api/v1/links/import", data=body, content_type="text/csv").get_json()
    assert (report["created"], report["failed"]) == (1, 2), report
    by_row = {error["row"]: error["errors"] for error in report["errors"]}
    assert list(by_row[2]) == ["rules"]
    assert list(by_row[3]) == ["rules.0.conditions.0"]
    assert by_row[3]["rules.0.conditions.0"][0].startswith("Rule 1, condition 1 (country)")


def api_md_examples() -> list[Any]:
    """The JSON blocks of docs/API.md's "Redirect rules" section: the link, the error."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text()
    section = text.split("### Redirect rules", 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]


def test_the_docs_examples_are_true(api: ApiClient) -> None:
    link, error = api_md_examples()
    created = api.post("/api/v1/links", json=link)
    assert created.status_code == 201, created.get_json()
    iphone = {"User-Agent": IPHONE}
    assert (
        api.client.get("/get-the-app", headers=iphone).headers["Location"]
        == (link["rules"][0]["url"])
    )
    french = {"Accept-Language": "fr-CA,fr;q=0.9", "CF-IPCountry": "FR"}
    assert (
        api.client.get("/get-the-app", headers=french).headers["Location"]
        == (link["rules"][2]["url"])
    )
    assert api.client.get("/get-the-app").headers["Location"] == link["url"]
    bad = [
        RULES[1],
        {"url": "https://x.example/", "conditions": [{"type": "country", "value": "France"}]},
        {"url": "ftp://x.example/", "conditions": [{"type": "device", "value": "ios"}]},
    ]
    body = assert_problem(api.post("/api/v1/links", json={"url": link["url"], "rules": bad}), 422)
    assert {key: body[key] for key in error} == error
