"""How the visit's query string is merged into a target (Shlink's rule: the visit's values
win), without an app: :func:`service.links.forwarding.forward_query` is pure."""

from __future__ import annotations

import pytest

from service.links.forwarding import forward_query


@pytest.mark.parametrize(
    ("location", "query", "expected"),
    [
        ("https://t.example/p", "a=1", "https://t.example/p?a=1"),
        ("https://t.example/p", "", "https://t.example/p"),
        ("https://t.example/p", "&&", "https://t.example/p"),
        # Shlink's documented example: the visit's value of a shared name wins.
        (
            "https://www.google.com?foo=bar",
            "foo=overwritten&another=param",
            "https://www.google.com?foo=overwritten&another=param",
        ),
        # The target's parameters keep their order; an overridden one keeps its place.
        ("https://t.example/?b=2&a=1", "b=3&c=4", "https://t.example/?b=3&a=1&c=4"),
        # Every value the visit gives a name replaces every value the target had.
        ("https://t.example/?a=0&k=v&a=2", "a=1", "https://t.example/?a=1&k=v"),
        ("https://t.example/?a=0", "x=1&a=1&a=2", "https://t.example/?a=1&a=2&x=1"),
        # A fragment stays last.
        ("https://t.example/p?a=1#top", "b=2", "https://t.example/p?a=1&b=2#top"),
        ("https://t.example/p#top", "b=2", "https://t.example/p?b=2#top"),
        # A name without "=" stays one; an empty value keeps its "=".
        ("https://t.example/", "flag&empty=", "https://t.example/?flag&empty="),
        # The target's own encoding is kept as written; names are compared decoded.
        ("https://t.example/?q=a+b&x%5B%5D=1", "x[]=2", "https://t.example/?q=a+b&x%5B%5D=2"),
    ],
)
def test_the_visits_query_is_merged_into_the_target(
    location: str, query: str, expected: str
) -> None:
    assert forward_query(location, query) == expected


@pytest.mark.parametrize(
    ("query", "forwarded"),
    [
        ("q=a+b", "q=a%20b"),  # "+" is a space, written as Shlink writes it
        ("q=%E2%82%AC", "q=%E2%82%AC"),
        ("q=\xe2\x82\xac", "q=%E2%82%AC"),  # raw UTF-8 bytes (WSGI hands them as latin-1)
        ('q=<script>"', "q=%3Cscript%3E%22"),
        ("q=100%", "q=100%25"),  # a stray "%" is a literal percent sign
        ("next=https://x.example/?a=1", "next=https%3A%2F%2Fx.example%2F%3Fa%3D1"),
        ("a\r\nb=1", "a%0D%0Ab=1"),
    ],
)
def test_the_visits_parameters_are_always_a_valid_uri(query: str, forwarded: str) -> None:
    assert forward_query("https://t.example/", query) == f"https://t.example/?{forwarded}"
