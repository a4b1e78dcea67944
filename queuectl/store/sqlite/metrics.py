"""What /metrics reads from SQLite (the latency histograms and each queue's oldest
runnable job, from the tallies and the claim index, never by counting jobs), and the
runners' batches of observations that the histograms add up."""

from __future__ import annotations

import json
from collections.abc import Mapping

from queuectl.domain.histograms import Histogram, from_names
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import SQLiteConnection

__all__ = ["histograms", "record_observations"]


async def histograms(db: SQLiteConnection) -> dict[tuple[str, str], Histogram]:
    names: dict[tuple[str, str], dict[str, int]] = {}
    for kind, queue, name, n in await db.fetch(sql.HISTOGRAMS):
        names.setdefault((kind, queue), {})[name] = n
    return {key: from_names(rows) for key, rows in sorted(names.items())}


async def record_observations(
    db: SQLiteConnection, counts: Mapping[tuple[str, str, str], int]
) -> None:
    if counts:
        rows = [[kind, queue, name, n] for (kind, queue, name), n in counts.items()]
        await db.fetch(sql.RECORD_OBSERVATIONS, (json.dumps(rows),))
