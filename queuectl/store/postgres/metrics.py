"""What /metrics reads from PostgreSQL: the latency histograms (tallies and their
deltas) and each queue's oldest runnable job (an index), never by counting jobs."""

from __future__ import annotations

from collections.abc import Mapping

from queuectl.domain.histograms import KINDS, Histogram, from_names
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.pool import PgPool

__all__ = ["histograms", "record_observations"]


async def histograms(pool: PgPool, q: sql.Render) -> dict[tuple[str, str], Histogram]:
    found: dict[tuple[str, str], Histogram] = {}
    for kind in KINDS:
        names: dict[str, dict[str, int]] = {}
        for queue, name, n in await pool.fetch(q(sql.TALLIES), kind):
            names.setdefault(queue, {})[name] = n
        found.update(((kind, queue), from_names(rows)) for queue, rows in sorted(names.items()))
    return found


async def record_observations(
    pool: PgPool, q: sql.Render, counts: Mapping[tuple[str, str, str], int]
) -> None:
    if counts:
        keys = list(counts)
        await pool.fetch(
            q(sql.RECORD_OBSERVATIONS),
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [counts[k] for k in keys],
        )
