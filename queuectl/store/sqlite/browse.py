"""Reads for browsing: one keyset page of jobs, and finished jobs per minute.

A page starts after a job id (its ``seq`` looked up through the unique id index), so
deep pages cost what the first one does; there is never an OFFSET.
"""

from __future__ import annotations

from queuectl.domain.models import Job
from queuectl.store.base import JobPage
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import SQLiteConnection
from queuectl.store.sqlite.rows import job_from_row

__all__ = ["browse_jobs", "finished_by_minute"]

_BY_MINUTE = (
    "SELECT CAST(finished_at / 60 AS INTEGER) * 60, state, count(*) "
    "FROM jobs INDEXED BY jobs_finished "
    "WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at > ? GROUP BY 1, 2"
)


def browse_sql(*, state: bool, queue: bool, text: bool, newest: bool) -> str:
    cmp, order, edge = ("<", "DESC", sql.SEQ_END) if newest else (">", "", 0)
    where = [f"seq {cmp} coalesce((SELECT seq FROM jobs WHERE id = :after), {edge})"]
    if state:
        where.append("state = :state")
    if queue:
        where.append("queue = :queue")
    if text:
        where.append("(instr(id, :text) > 0 OR instr(command, :text) > 0)")
    return (
        f"SELECT {sql.JOB_COLUMNS} FROM jobs WHERE {' AND '.join(where)} "
        f"ORDER BY seq {order} LIMIT :limit"
    )


async def browse_jobs(db: SQLiteConnection, page: JobPage) -> list[Job]:
    query = browse_sql(
        state=page.state is not None,
        queue=page.queue is not None,
        text=bool(page.text),
        newest=page.newest,
    )
    return [job_from_row(row) for row in await db.fetch(query, page._asdict())]


async def finished_by_minute(
    db: SQLiteConnection, now: float, minutes: int
) -> dict[tuple[int, str], int]:
    rows = await db.fetch(_BY_MINUTE, (now - 60 * minutes,))
    return {(int(minute), state): n for minute, state, n in rows}
