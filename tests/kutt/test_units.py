"""Kutt ids and durations on their own (no app): the formats clients store and send."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from service.kutt.durations import parse_milliseconds
from service.kutt.ids import domain_public_id, link_id_of, names, public_id

#: A version-4 uuid, fixed: xdist workers must collect the same test ids.
RANDOM_V4 = "5f0c1a2e-7b3d-4c8e-9a6f-2d4b8e1c3a70"
CREATED = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_domains_id_is_the_name_based_uuid_of_its_host() -> None:
    text = domain_public_id("go.example.com")
    assert text == "a987cb67-0900-528b-bfc8-9687c3a6bbf0"  # as docs/KUTT.md shows it
    assert uuid.UUID(text).version == 5
    assert domain_public_id("go.example.com:8443") != text
    assert link_id_of(text) is None  # never a link's


def test_an_id_is_a_version_8_uuid_that_names_its_link() -> None:
    text = public_id(42, CREATED)
    parsed = uuid.UUID(text)
    assert len(text) == 36
    assert str(parsed) == text
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
    assert link_id_of(text) == 42
    assert link_id_of(text.upper()) == 42
    assert names(text, 42, CREATED)
    assert names(text.upper(), 42, CREATED)


def test_the_id_ignores_sub_second_precision_and_not_the_creation_second() -> None:
    assert public_id(42, CREATED) == public_id(42, CREATED.replace(microsecond=0))
    # SQLite may reuse a deleted link's id: the old id must not name the newcomer.
    assert not names(public_id(42, CREATED), 42, CREATED + timedelta(seconds=1))
    assert public_id(42, CREATED) != public_id(43, CREATED)


@pytest.mark.parametrize(
    "text",
    ["", "x" * 36, RANDOM_V4, str(uuid.UUID(int=0)), "{" + RANDOM_V4[1:-1] + "}"],
)
def test_what_cannot_be_our_id_names_no_link(text: str) -> None:
    assert link_id_of(text) is None


def test_an_id_beyond_the_links_column_names_no_link() -> None:
    assert link_id_of(public_id(2**31 - 1, CREATED)) == 2**31 - 1
    assert link_id_of(public_id(2**31, CREATED)) is None


@pytest.mark.parametrize(
    ("text", "milliseconds"),
    [
        ("2 minutes", 120_000),
        ("1m", 60_000),
        ("8h", 8 * 3_600_000),
        ("42 days", 42 * 86_400_000),
        ("1.5h", 5_400_000),
        ("1 Day", 86_400_000),
        ("2 weeks", 14 * 86_400_000),
        ("1y", 365.25 * 86_400_000),
        ("90000", 90_000),
        ("-1m", -60_000),
        ("soon", None),
        ("1 fortnight", None),
        ("", None),
        ("1" * 101, None),
    ],
)
def test_durations_read_like_the_ms_package(text: str, milliseconds: float | None) -> None:
    assert parse_milliseconds(text) == milliseconds
