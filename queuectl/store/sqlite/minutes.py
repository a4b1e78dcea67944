"""The outcomes per minute on SQLite: tallies of kind ``minute`` (``domain.minutes``),
read and pruned through the tallies' primary key, never by reading jobs."""

from __future__ import annotations

from queuectl.domain import minutes
from queuectl.store.sqlite.connection import SQLiteConnection

__all__ = ["outcomes_by_minute", "prune"]

_READ = "SELECT name, sum(n) FROM tallies WHERE kind = 'minute' AND name >= ? GROUP BY name"
_PRUNE = "DELETE FROM tallies WHERE kind = 'minute' AND name < ?"


async def outcomes_by_minute(db: SQLiteConnection, since: int) -> dict[tuple[int, str], int]:
    return {
        minutes.parse(name): int(n) for name, n in await db.fetch(_READ, (minutes.bound(since),))
    }


async def prune(db: SQLiteConnection, before: str) -> None:
    await db.fetch(_PRUNE, (before,))
