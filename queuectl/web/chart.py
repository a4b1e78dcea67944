"""The throughput chart as inline SVG, drawn on the server: no script, no CDN."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["MINUTES", "SERIES", "WIDTH", "Bar", "bars"]

#: Stacked from the bottom, in this order; each has a CSS class of its name. The
#: counts come from ``Queue.outcomes_by_minute``: a read of the kept minute tallies,
#: cheap enough for every render, so nothing is cached between requests.
SERIES = ("completed", "failed", "dead", "cancelled")
WIDTH, HEIGHT = 600, 120
#: The chart's window: a bar a minute, the newest at the right.
MINUTES = 60


class Bar(NamedTuple):
    series: str
    x: float
    y: float
    width: float
    height: float
    title: str


def bars(minutes: list[tuple[int, dict[str, int]]]) -> tuple[list[Bar], int]:
    """The rectangles of a stacked bar per minute, and the tallest stack's total."""
    if not minutes:
        return [], 0
    top = max(1, *(sum(counts.values()) for _, counts in minutes))
    slot = WIDTH / len(minutes)
    out: list[Bar] = []
    for i, (minute, counts) in enumerate(minutes):
        base = float(HEIGHT)
        label = f"{(minute // 3600) % 24:02d}:{(minute // 60) % 60:02d} UTC"
        for series in SERIES:
            n = counts.get(series, 0)
            if n:
                h = HEIGHT * n / top
                base -= h
                out.append(Bar(series, i * slot + 1, base, slot - 2, h, f"{label}: {n} {series}"))
    return out, top
