"""What /metrics reads from PostgreSQL: the latency histograms (tallies and their
deltas) and each queue's oldest runnable job (an index), never by counting jobs."""

from __future__ import annotations

from collections.abc import Iterable

from queuectl.domain.histograms import KINDS, Histogram, from_names
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.pool import PgPool

__all__ = ["histograms", "oldest_runnable"]


async def histograms(pool: PgPool, q: sql.Render) -> dict[tuple[str, str], Histogram]:
    found: dict[tuple[str, str], Histogram] = {}
    for kind in KINDS:
        names: dict[str, dict[str, int]] = {}
        for queue, name, n in await pool.fetch(q(sql.TALLIES), kind):
            names.setdefault(queue, {})[name] = n
        found.update(((kind, queue), from_names(rows)) for queue, rows in sorted(names.items()))
    return found


async def oldest_runnable(pool: PgPool, q: sql.Render, queues: Iterable[str]) -> dict[str, float]:
    rows = await pool.fetch(q(sql.OLDEST_RUNNABLE), list(queues))
    return {name: at for name, at in rows if at is not None}
