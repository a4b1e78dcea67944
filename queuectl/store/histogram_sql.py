"""SQL that both SQL stores' triggers use to count latency observations into buckets."""

from __future__ import annotations

from queuectl.domain.histograms import BOUNDS, BUCKET_NAMES

__all__ = ["bucket_case", "micros"]


def bucket_case(seconds: str) -> str:
    """A CASE expression naming the bucket of the observation ``seconds`` (an SQL
    expression), as ``domain.histograms.bucket_name`` does."""
    whens = " ".join(
        f"WHEN {seconds} <= {bound!r} THEN '{name}'"
        for bound, name in zip(BOUNDS, BUCKET_NAMES, strict=False)
    )
    return f"CASE {whens} ELSE '+Inf' END"


def micros(seconds: str, cast: str) -> str:
    """An observation in whole microseconds (the sums add up exactly as integers)."""
    return f"CAST(round(({seconds}) * 1000000) AS {cast})"
