"""Kutt's ``expire_in``: a duration in the notation of the ``ms`` package Kutt parses it with
("2 minutes", "1.5h", "42 days", "1y"; a bare number is milliseconds)."""

from __future__ import annotations

import re

#: ``ms`` refuses longer text.
MAX_TEXT_LENGTH = 100
_DURATION = re.compile(
    r"(?P<amount>-?(?:\d+)?\.?\d+) *"
    r"(?P<unit>milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h"
    r"|days?|d|weeks?|w|years?|yrs?|y)?",
    re.IGNORECASE,
)
_SECOND = 1000.0
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
#: Milliseconds per unit, keyed by the unit's first letters as ``ms`` reads them.
_UNITS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("milliseconds", "millisecond", "msecs", "msec", "ms"), 1.0),
    (("seconds", "second", "secs", "sec", "s"), _SECOND),
    (("minutes", "minute", "mins", "min", "m"), _MINUTE),
    (("hours", "hour", "hrs", "hr", "h"), _HOUR),
    (("days", "day", "d"), _DAY),
    (("weeks", "week", "w"), 7 * _DAY),
    (("years", "year", "yrs", "yr", "y"), 365.25 * _DAY),
)


def parse_milliseconds(text: str) -> float | None:
    """The duration ``text`` names in milliseconds, or None when ``ms`` would not read it."""
    if not text or len(text) > MAX_TEXT_LENGTH:
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    amount = float(match["amount"])
    unit = (match["unit"] or "ms").lower()
    for spellings, factor in _UNITS:
        if unit in spellings:
            return amount * factor
    return None  # pragma: no cover  # the pattern only lets the spellings above through
