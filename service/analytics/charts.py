"""Server-side SVG charts: no JavaScript, no CDN, nothing the CSP forbids.

Colours and sizes are SVG presentation attributes (``fill="..."``), never ``style``
attributes, which the Content-Security-Policy (no inline style) would block. Every label is
escaped: referrer hosts and browser names come from visitors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

HUMAN_COLOUR = "#2456d6"
BOT_COLOUR = "#a9b1c2"
GRID_COLOUR = "#e3e6ee"
TEXT_COLOUR = "#5b6477"


@dataclass(frozen=True)
class Point:
    """One bucket of a time series: its axis label, tooltip label and counts."""

    label: str
    title: str
    humans: int
    bots: int


def nice_ceiling(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if value <= factor * magnitude:
            return int(factor * magnitude)
    return int(10 * magnitude)  # pragma: no cover


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def time_series(
    points: Sequence[Point], *, label: str, width: int = 720, height: int = 240
) -> Markup:
    """Stacked bars, humans below bots, with a y axis and at most about 8 x labels."""
    left, right, top, bottom = 52, 8, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((p.humans + p.bots for p in points), default=0))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for step in range(5):
        value = peak * step / 4
        y = top + plot_h - plot_h * step / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_number(y)}" y2="{_number(y)}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{_number(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="{TEXT_COLOUR}">{_number(value)}</text>'
        )
    count = max(len(points), 1)
    slot = plot_w / count
    bar = max(slot * 0.8, 0.5)
    every = max(1, math.ceil(count / 8))
    for index, point in enumerate(points):
        x = left + index * slot + (slot - bar) / 2
        human_h = plot_h * point.humans / peak
        bot_h = plot_h * point.bots / peak
        base = top + plot_h
        total = point.humans + point.bots
        parts.append(
            f"<g><title>{escape(point.title)}: {total} visits "
            f"({point.humans} people, {point.bots} bots)</title>"
        )
        if point.humans:
            parts.append(
                f'<rect x="{_number(x)}" y="{_number(base - human_h)}" width="{_number(bar)}" '
                f'height="{_number(human_h)}" fill="{HUMAN_COLOUR}"/>'
            )
        if point.bots:
            parts.append(
                f'<rect x="{_number(x)}" y="{_number(base - human_h - bot_h)}" '
                f'width="{_number(bar)}" height="{_number(bot_h)}" fill="{BOT_COLOUR}"/>'
            )
        # An invisible full-height target, so the tooltip also shows for empty buckets.
        parts.append(
            f'<rect x="{_number(left + index * slot)}" y="{top}" width="{_number(slot)}" '
            f'height="{plot_h}" fill="#ffffff" fill-opacity="0"/></g>'
        )
        if index % every == 0:
            parts.append(
                f'<text x="{_number(x + bar / 2)}" y="{height - bottom + 16}" '
                f'text-anchor="middle" font-size="11" fill="{TEXT_COLOUR}">'
                f"{escape(point.label)}</text>"
            )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{TEXT_COLOUR}" stroke-width="1"/></svg>'
    )
    return Markup("".join(parts))  # noqa: S704  # nosec B704  # built from escaped labels and numbers


def bar(value: int, maximum: int, *, bots: int = 0) -> Markup:
    """A small horizontal bar (humans, then bots) for a row of a "top" table."""
    scale = 100 / maximum if maximum > 0 else 0
    human_w = max(0.0, (value - bots) * scale)
    bot_w = max(0.0, bots * scale)
    return Markup(  # noqa: S704  # nosec B704  # numbers only
        '<svg class="bar" viewBox="0 0 100 10" width="100%" height="10" '
        'preserveAspectRatio="none" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="0" y="0" width="100" height="10" fill="{GRID_COLOUR}"/>'
        f'<rect x="0" y="0" width="{_number(human_w)}" height="10" fill="{HUMAN_COLOUR}"/>'
        f'<rect x="{_number(human_w)}" y="0" width="{_number(bot_w)}" height="10" '
        f'fill="{BOT_COLOUR}"/></svg>'
    )


__all__ = ["Point", "bar", "nice_ceiling", "time_series"]
