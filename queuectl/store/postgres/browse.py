"""Reads for browsing: one keyset page of jobs.

A page starts after a job id (its ``seq`` looked up through the unique id index), so
deep pages cost what the first one does; there is never an OFFSET.
"""

from __future__ import annotations

import re

from queuectl.store.base import FoundJobs, JobPage
from queuectl.store.paging import browse_statements, found_jobs
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import job_from_row

__all__ = ["browse_jobs"]


def _positional(query: str, values: dict[str, object]) -> tuple[str, list[object]]:
    """``query`` with its ``:name`` parameters numbered ``$1``… and their values in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r":(\w+)", number, query), [values[name] for name in names]


async def browse_jobs(pool: PgPool, q: sql.Render, page: JobPage) -> FoundJobs:
    query, end = browse_statements(
        page, table="{s}.jobs", columns=sql.JOB_COLUMNS, contains="strpos({column}, {text}) > 0"
    )
    values = page._asdict()
    statement, args = _positional(query, values)
    jobs = [job_from_row(row) for row in await pool.fetch(q(statement), *args)]
    window = None
    if len(jobs) < page.limit and end is not None:
        statement, args = _positional(end, values)
        row = (await pool.fetch(q(statement), *args))[0]
        window = (int(row[0]), row[1])
    return found_jobs(page, jobs, window)
