"""Reads for browsing: one keyset page of jobs, and finished jobs per minute.

A page starts after a job id (its ``seq`` looked up through the unique id index), so
deep pages cost what the first one does; there is never an OFFSET.
"""

from __future__ import annotations

from queuectl.store.base import FoundJobs, JobPage
from queuectl.store.paging import browse_statements, found_jobs
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import SQLiteConnection
from queuectl.store.sqlite.rows import job_from_row

__all__ = ["browse_jobs", "finished_by_minute"]

_BY_MINUTE = (
    "SELECT CAST(finished_at / 60 AS INTEGER) * 60, state, count(*) "
    "FROM jobs INDEXED BY jobs_finished "
    "WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at > ? GROUP BY 1, 2"
)


async def browse_jobs(db: SQLiteConnection, page: JobPage) -> FoundJobs:
    query, end = browse_statements(
        page, table="jobs", columns=sql.JOB_COLUMNS, contains="instr({column}, {text}) > 0"
    )
    params = page._asdict()
    jobs = [job_from_row(row) for row in await db.fetch(query, params)]
    window = None
    if len(jobs) < page.limit and end is not None:
        read, last = (await db.fetch(end, params))[0]
        window = (int(read), last)
    return found_jobs(page, jobs, window)


async def finished_by_minute(
    db: SQLiteConnection, now: float, minutes: int
) -> dict[tuple[int, str], int]:
    rows = await db.fetch(_BY_MINUTE, (now - 60 * minutes,))
    return {(int(minute), state): n for minute, state, n in rows}
