"""Outcomes per minute, as tallies: kind ``minute``, one row per (queue, minute, outcome).

A row's name is ``"<minute>:<outcome>"``, the minute as seconds since the epoch (a
multiple of 60, ten digits until the year 2286), so names sort by minute and a range of
names is a range of minutes: the reads and the pruning compare names with ``bound``.
Runners add to them with their batched observations (``Store.record_observations``);
the stores keep ``KEEP`` minutes and prune older rows in their upkeep.
"""

from __future__ import annotations

__all__ = ["KEEP", "MINUTE", "bound", "floor", "name", "parse"]

#: The tallies' kind.
MINUTE = "minute"
#: Minutes kept; older rows are pruned (the chart shows the last 60).
KEEP = 120


def floor(seconds: float) -> int:
    """The start of the minute that ``seconds`` (since the epoch) falls in."""
    return int(seconds // 60) * 60


def name(minute: int, outcome: str) -> str:
    return f"{minute}:{outcome}"


def parse(text: str) -> tuple[int, str]:
    minute, _, outcome = text.partition(":")
    return int(minute), outcome


def bound(minute: int) -> str:
    """The least name of ``minute``: names at or after it sort at or above this."""
    return str(minute)
