"""The outcomes per minute on PostgreSQL: tallies of kind ``minute``
(``domain.minutes``), folded rows plus deltas not folded yet, never a read of jobs.
Names compare in the "C" collation, so that they sort by minute whatever the
database's collation is."""

from __future__ import annotations

from queuectl.domain import minutes
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.pool import PgPool

__all__ = ["outcomes_by_minute", "prune"]

_READ = """
SELECT name, sum(n)::bigint FROM (
    SELECT name, n FROM {s}.tallies WHERE kind = 'minute' AND name COLLATE "C" >= $1
    UNION ALL
    SELECT name, n FROM {s}.tally_deltas WHERE kind = 'minute' AND name COLLATE "C" >= $1
) AS t
GROUP BY name
"""
# Deltas too: a runner's late batch of an old minute would otherwise come back at the
# next fold, and wait a whole pruning interval more.
_PRUNE = """
WITH deltas AS (
    DELETE FROM {s}.tally_deltas WHERE kind = 'minute' AND name COLLATE "C" < $1
)
DELETE FROM {s}.tallies WHERE kind = 'minute' AND name COLLATE "C" < $1
"""


async def outcomes_by_minute(pool: PgPool, q: sql.Render, since: int) -> dict[tuple[int, str], int]:
    rows = await pool.fetch(q(_READ), minutes.bound(since))
    return {minutes.parse(name): int(n) for name, n in rows}


async def prune(pool: PgPool, q: sql.Render, before: str) -> None:
    await pool.fetch(q(_PRUNE), before)
