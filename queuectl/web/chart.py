"""The throughput chart as inline SVG, drawn on the server: no script, no CDN."""

from __future__ import annotations

import asyncio
import math
import time
from typing import NamedTuple

from queuectl.api.queue import Queue

__all__ = ["SERIES", "Bar", "History", "bars"]

#: Stacked from the bottom, in this order; each has a CSS class of its name.
SERIES = ("completed", "dead", "cancelled")
WIDTH, HEIGHT = 600, 120


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


class History:
    """The chart's minutes, kept between requests. A minute that has ended keeps its
    counts, so after the first read of the hour only the last two minutes are read
    again, and at most every ``refresh`` seconds: the hour's first read costs what the
    jobs finished in that hour do (the ``finished_at`` index), later ones little."""

    def __init__(self, queue: Queue, *, refresh: float = 5.0) -> None:
        self._queue = queue
        self._refresh = refresh
        self._known: dict[int, dict[str, int]] = {}
        self._read_at = -math.inf
        self._lock = asyncio.Lock()

    async def minutes(self) -> list[tuple[int, dict[str, int]]]:
        """The last 60 minutes, oldest first, with their counts per finished state."""
        async with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self._refresh or not self._known:
                await self._read()
                self._read_at = now
            last = max(self._known)
            return [(m, self._known[m]) for m in range(last - 59 * 60, last + 1, 60)]

    async def _read(self) -> None:
        behind = 60
        if self._known:  # the minutes since the last read, and the one it ended in
            behind = min(60, int((time.time() - max(self._known)) // 60) + 2)
        for minute, counts in await self._queue.finished_by_minute(behind):
            self._known[minute] = counts
        newest = max(self._known)
        self._known = {m: c for m, c in self._known.items() if m > newest - 3600}
        for m in range(newest - 59 * 60, newest + 1, 60):
            self._known.setdefault(m, dict.fromkeys(SERIES, 0))
