"""Output and attempt history on SQLite, kept in the database beside their jobs.

Output is appended per attempt and stream; the attempt history is written by triggers
on the jobs table, so this module only reads it. Both go with their job on purge.
"""

from __future__ import annotations

from collections.abc import Sequence

from queuectl.domain.errors import JobNotFound
from queuectl.domain.models import Attempt, JobOutput
from queuectl.store.base import OutputWrite
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection
from queuectl.store.sqlite.rows import attempt_from_row, output_from_row

__all__ = ["attempts", "finished_since", "read_output", "write_output"]


async def write_output(db: SQLiteConnection, writes: Sequence[OutputWrite]) -> None:
    """Store new output in one transaction (nothing to do for none)."""
    rows = sql.output_rows(writes)

    async def run(conn: Conn) -> None:
        await conn.executemany(sql.WRITE_OUTPUT, rows)

    if rows:
        await db.transaction(run)


async def read_output(db: SQLiteConnection, job_id: str, token: int) -> dict[int, JobOutput]:
    rows = await db.fetch(sql.READ_OUTPUT, (job_id, token))
    return {row[0]: output_from_row(row) for row in rows}


async def attempts(db: SQLiteConnection, job_id: str) -> list[Attempt]:
    rows = await db.fetch(sql.ATTEMPTS, (job_id,))
    if not rows and not await db.fetch(sql.JOB_EXISTS, (job_id,)):
        raise JobNotFound(job_id)
    return [attempt_from_row(row) for row in rows]


async def finished_since(db: SQLiteConnection, now: float, seconds: float) -> int:
    rows = await db.fetch(sql.FINISHED_SINCE, (now - seconds,))
    return int(rows[0][0])
