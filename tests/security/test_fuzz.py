"""Hypothesis against every parser and validator that reads outside input and had no property
test yet: settings, request ids and X-Forwarded-For, ``next=``, tags, slugs, e-mail
addresses, import rows (CSV, JSON, NDJSON), stats ranges, cache wire values, referrers.

Each property is "answers or refuses in its documented way": no other exception, ever.
(URL validation and the API under schemathesis have their own property tests.)
"""

from __future__ import annotations

import io
import ipaddress
import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service import create_app
from service.accounts.auth import safe_next_url
from service.accounts.services import AccountError, normalise_email
from service.analytics.capture import referrer_host
from service.analytics.stats import StatsQueryError, StatsRange, stats_range
from service.api.importer import (
    ImportFormatError,
    ImportReport,
    clean_row,
    row_context,
    rows_of,
)
from service.app import _REQUEST_ID, is_private_address, is_trusted_proxy
from service.config import ConfigError, Settings, build_config
from service.dashboard.forms import parse_tags
from service.links.cache import JsonSerializer, LinkRecord
from service.links.errors import ValidationError
from service.links.services import normalise_tags
from service.links.slugs import SLUG_PATTERN, slug_problem

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Header values as a WSGI server can deliver them (latin-1, no line breaks).
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=300,
)
ANY_TEXT = st.text(max_size=300)
T = TypeVar("T")


def attempt(call: Callable[[], T], *refusals: type[Exception]) -> tuple[T | None, Any]:
    """``(result, None)``, or ``(None, error)`` when ``call`` refused with one of ``refusals``;
    any other exception fails the property."""
    try:
        return call(), None
    except refusals as error:
        return None, error


@pytest.fixture(scope="module")
def app() -> Flask:
    """An app that never connects: every property here is pure parsing."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "fuzz",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SERVER_NAME": "sho.rt",
        }
    )


# -- settings --------------------------------------------------------------------------------

SETTING_NAMES = [f"LINKFLEET_{name.upper()}" for name in Settings.__dataclass_fields__]


@FUZZ
@given(st.dictionaries(st.sampled_from(SETTING_NAMES), ANY_TEXT.filter(lambda s: "\0" not in s)))
@example({"LINKFLEET_TRUSTED_PROXIES": "10.0.0.0/33"})
@example({"LINKFLEET_REDIS_URL": "redis://h:99999/0"})
@example({"LINKFLEET_DATABASE_URL": "postgresql://u@h:x/db"})
@example({"LINKFLEET_SESSION_LIFETIME_DAYS": "٣"})
def test_settings_parse_or_name_the_bad_variable(env: dict[str, str]) -> None:
    settings, error = attempt(lambda: Settings.from_env(env), ConfigError)
    if error is not None:
        assert "LINKFLEET_" in str(error)
        return
    assert settings is not None
    config = settings.to_flask()
    assert isinstance(config["TRUSTED_PROXIES"], tuple)


def test_build_config_reports_garbage_as_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKFLEET_WORKER_METRICS_PORT", "x")  # not a setting: ignored
    monkeypatch.setenv("LINKFLEET_ANALYTICS_WORKER_METRICS_PORT", "70000")
    with pytest.raises(ConfigError, match="ANALYTICS_WORKER_METRICS_PORT"):
        build_config({"TESTING": True})


# -- request id, client address, proxies -----------------------------------------------------


@FUZZ
@given(request_id=HEADER_TEXT, forwarded=HEADER_TEXT, peer=st.sampled_from(["127.0.0.1", "::1"]))
@example(request_id="a" * 129, forwarded="1.2.3.4, ::ffff:10.0.0.1", peer="127.0.0.1")
@example(request_id="abc\u00e9defgh", forwarded=", , ,", peer="::1")
@example(request_id="", forwarded="[::1]", peer="127.0.0.1")
def test_request_id_and_client_ip_are_always_well_formed(
    app: Flask, request_id: str, forwarded: str, peer: str
) -> None:
    headers = {"X-Request-ID": request_id, "X-Forwarded-For": forwarded}
    with app.test_request_context(
        "/", headers=headers, environ_base={"REMOTE_ADDR": peer}
    ) as context:
        request = context.request
        assert _REQUEST_ID.match(request.request_id)  # type: ignore[attr-defined]
        if _REQUEST_ID.match(request_id):
            assert request.request_id == request_id  # type: ignore[attr-defined]
        client_ip = request.client_ip  # type: ignore[attr-defined]
        ipaddress.ip_address(client_ip)  # always an address, whatever was claimed
        last_hop = forwarded.rsplit(",", 1)[-1].strip()
        if client_ip != peer:
            assert client_ip == str(ipaddress.ip_address(last_hop))


@FUZZ
@given(peer=ANY_TEXT, trusted=st.lists(st.sampled_from(["127.0.0.1", "::1", "10.0.0.0/8"])))
def test_proxy_and_private_checks_never_raise(peer: str, trusted: list[str]) -> None:
    assert isinstance(is_trusted_proxy(peer, tuple(trusted)), bool)
    assert isinstance(is_private_address(peer), bool)


# -- next= -----------------------------------------------------------------------------------

NEXT_ALPHABET = st.sampled_from([*"/\\:@.?#%&=-_~ \t\r\n\x00\x7fabcAB09éヽ", "//", "%2f", "%5c"])


@FUZZ
@given(st.one_of(ANY_TEXT, st.lists(NEXT_ALPHABET, max_size=30).map("".join)))
@example("/\\evil.example")
@example("/\t/evil.example")
@example("\\\\evil.example")
@example("/%2F%2Fevil.example")
@example("https:/evil.example")
def test_next_never_leaves_the_site(app: Flask, target: str) -> None:
    with app.test_request_context("/login"):
        result = safe_next_url(target, default="/dashboard")
    assert result == "/dashboard" or result == target
    if result == target:
        parts = urlsplit(result)
        assert result.startswith("/")
        assert not result.startswith("//")
        assert not parts.scheme
        assert not parts.netloc
        assert "\\" not in result
        assert all(ord(char) >= 0x20 and ord(char) != 0x7F for char in result)


# -- tags, slugs, e-mail ---------------------------------------------------------------------


@FUZZ
@given(st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=30), st.none()))
def test_tag_normalisation(tags: str | list[str] | None) -> None:
    names, error = attempt(lambda: normalise_tags(tags), ValidationError)
    if error is not None:
        assert set(error.errors) == {"tags"}
        return
    assert names is not None
    assert len(names) == len(set(names))
    for name in names:
        assert name == " ".join(name.split()).lower()
        assert name
    assert normalise_tags(names) == names  # idempotent


@FUZZ
@given(ANY_TEXT)
def test_form_tags_parse_to_unique_trimmed_names(raw: str) -> None:
    names = parse_tags(raw)
    assert len(names) == len(set(names))
    assert all(name and name == name.strip() and "," not in name for name in names)
    assert parse_tags(",".join(names)) == names


@FUZZ
@given(st.one_of(ANY_TEXT, st.from_regex(SLUG_PATTERN, fullmatch=True)))
def test_slug_check_answers_a_message_or_none(app: Flask, slug: str) -> None:
    with app.app_context():
        problem = slug_problem(slug)
    if problem is None:
        assert SLUG_PATTERN.fullmatch(slug)
    else:
        assert isinstance(problem, str)
        assert problem


@FUZZ
@given(st.one_of(ANY_TEXT, st.emails().map(str)))
@example("a@b")
@example("x" * 300 + "@example.com")
def test_email_normalisation(raw: str) -> None:
    email, error = attempt(lambda: normalise_email(raw), AccountError)
    if error is not None:
        assert error.field == "email"
        return
    assert email is not None
    assert email == email.lower()
    assert "@" in email
    assert len(email) <= 254
    assert normalise_email(email) == email


# -- import rows ----------------------------------------------------------------------------

CSV_CELL = st.one_of(
    st.sampled_from(["", "https://example.org/x", "301", "-5", "²", "١٢", "a,b", '"', "null"]),
    st.text(max_size=40),
)
HEADINGS = st.sampled_from(
    [
        "url",
        "slug",
        "title",
        "tags",
        "redirect_type",
        "expires_at",
        "max_visits",
        "password",
        "longUrl",
        "shortCode",
        "keyword",
        "target",
        "source",
        "visits",
        "zzz",
    ]
)


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    header = draw(st.lists(HEADINGS, min_size=0, max_size=8))
    rows = draw(st.lists(st.lists(CSV_CELL, max_size=10), max_size=6))
    lines = [",".join(header)] + [",".join(json.dumps(cell) for cell in row) for row in rows]
    return "\n".join(lines)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(HEADINGS, st.text(max_size=10)), children, max_size=6)
    ),
    max_leaves=20,
)


def _import_rows(app: Flask, kind: str, text: str) -> None:
    """Read and clean every row like an import does; nothing else may be raised."""
    report = ImportReport()
    with app.test_request_context("/api/v1/links/import", method="POST"):
        context = row_context()

        def read_all() -> list[tuple[Any, Any]]:
            return [clean_row(raw, context) for _, raw in rows_of(kind, io.StringIO(text), report)]

        cleaned, error = attempt(read_all, ImportFormatError)
    if error is not None:
        assert error.message
        return
    for values, errors in cleaned or []:
        assert (values is None) == bool(errors)


@FUZZ
@given(csv_files())
@example("url,max_visits\nhttps://example.org/,²\n")
@example("url,redirect_type\nhttps://example.org/,-\n")
def test_csv_import_rows(app: Flask, text: str) -> None:
    _import_rows(app, "csv", text)


@FUZZ
@given(st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=200)))
@example('[{"url": "https://example.org/", "expires_at": "2999-13-01"}]')
@example('{"links": [{"url": 1}]}')
@example("[1, 2")
def test_json_import_rows(app: Flask, text: str) -> None:
    _import_rows(app, "json", text)


@FUZZ
@given(st.lists(st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=50)), max_size=5))
def test_ndjson_import_rows(app: Flask, lines: list[str]) -> None:
    _import_rows(app, "ndjson", "\n".join(lines))


# -- stats query, cache wire values, referrers -------------------------------------------------

MOMENTS = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.datetimes().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-02-30", "2026-01-01T25:00", "9999-12-31", "0001-01-01", "now"]),
)


@FUZZ
@given(MOMENTS, MOMENTS, st.one_of(st.none(), st.sampled_from(["hour", "day", "week"]), ANY_TEXT))
def test_stats_ranges(start: str | None, end: str | None, granularity: str | None) -> None:
    span, error = attempt(lambda: stats_range(start, end, granularity), StatsQueryError)
    if error is not None:
        assert error.errors
        assert set(error.errors) <= {"from", "to", "granularity"}
        return
    assert isinstance(span, StatsRange)
    assert span.start < span.end
    assert span.granularity in {"hour", "day"}


@FUZZ
@given(JSON_VALUES)
@example([1, "s", "https://example.org/", 302, None, None, None, False])
@example([1, "s", "u", "x", None, None, None, False])
@example([1, "s", "u", 302, "inf", None, None, False])
def test_cache_wire_values_read_as_a_record_or_a_miss(value: object) -> None:
    record = LinkRecord.from_wire(value)
    assert record is None or isinstance(record, LinkRecord)
    JsonSerializer().loads(json.dumps(value).encode())  # whatever JSON: read, never raise
    assert JsonSerializer().loads(b"\xff{not json") is None


@FUZZ
@given(st.one_of(st.none(), HEADER_TEXT))
@example("http://[::1")
@example("https://www./")
def test_referrer_hosts(referrer: str | None) -> None:
    host = referrer_host(referrer)
    assert isinstance(host, str)
    assert len(host) <= 200
    assert not host.startswith("www.")
