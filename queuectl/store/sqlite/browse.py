"""Reads for browsing: one keyset page of jobs.

A page starts after a job id (its ``seq`` looked up through the unique id index), so
deep pages cost what the first one does; there is never an OFFSET.
"""

from __future__ import annotations

from queuectl.store.base import FoundJobs, JobPage
from queuectl.store.paging import browse_statements, found_jobs
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import SQLiteConnection
from queuectl.store.sqlite.rows import job_from_row

__all__ = ["browse_jobs"]


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
