"""The latency histograms the stores keep: their bucket bounds, and the figures read back.

Two per queue: ``duration`` (an attempt's start to its outcome) and ``wait`` (a job's
becoming runnable to its start). The stores count each observation into one bucket in
the transaction that records it, so the figures never go down and are the same
whichever process reads them.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import NamedTuple

__all__ = [
    "BOUNDS",
    "BUCKET_NAMES",
    "KINDS",
    "SUM",
    "Histogram",
    "bucket_name",
    "from_names",
]

#: Upper bounds (seconds) of the buckets, from a quick `true` to an hour-long job; the
#: last bucket (+Inf) takes the rest.
BOUNDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
#: Each bucket's name as the stores keep it (the Prometheus ``le`` label's value).
BUCKET_NAMES: tuple[str, ...] = (*(format(b, "g") for b in BOUNDS), "+Inf")
#: The name under which a store keeps the sum of the observations, in microseconds
#: (an integer, so that it adds up exactly in any order).
SUM = "sum"
KINDS = ("duration", "wait")


def bucket_name(seconds: float) -> str:
    """The bucket an observation falls in: the first whose bound is not below it."""
    return BUCKET_NAMES[bisect.bisect_left(BOUNDS, seconds)]


class Histogram(NamedTuple):
    """One histogram: observations per bucket (not cumulative, ``BUCKET_NAMES`` order)
    and their sum in seconds."""

    counts: tuple[int, ...]
    sum: float

    @property
    def observations(self) -> int:
        return sum(self.counts)


def from_names(names: Mapping[str, int]) -> Histogram:
    """A histogram from a store's rows: bucket name -> count, and ``SUM`` in µs."""
    counts = tuple(int(names.get(name, 0)) for name in BUCKET_NAMES)
    return Histogram(counts, names.get(SUM, 0) / 1_000_000)
