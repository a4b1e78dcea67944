"""Reads for browsing: one keyset page of jobs, and finished jobs per minute.

A page starts after a job id (its ``seq`` looked up through the unique id index), so
deep pages cost what the first one does; there is never an OFFSET.
"""

from __future__ import annotations

from queuectl.store.base import FoundJobs, JobPage
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import SQLiteConnection
from queuectl.store.sqlite.rows import job_from_row

__all__ = ["browse_jobs", "finished_by_minute"]

_BY_MINUTE = (
    "SELECT CAST(finished_at / 60 AS INTEGER) * 60, state, count(*) "
    "FROM jobs INDEXED BY jobs_finished "
    "WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at > ? GROUP BY 1, 2"
)


def browse_sql(page: JobPage) -> tuple[str, str | None]:
    """The page's statement and, for a bounded text search, the one that finds where
    the rows it read end (how many it read, and the last one's id)."""
    cmp, order, edge = ("<", "DESC", sql.SEQ_END) if page.newest else (">", "", 0)
    where = [f"seq {cmp} coalesce((SELECT seq FROM jobs WHERE id = :after), {edge})"]
    if page.state is not None:
        where.append("state = :state")
    if page.queue is not None:
        where.append("queue = :queue")
    match = "(instr(id, :text) > 0 OR instr(command, :text) > 0)"
    if not page.text:
        rows, end = f"WHERE {' AND '.join(where)}", None
    elif page.scan is None:
        rows, end = f"WHERE {' AND '.join([*where, match])}", None
    else:
        window = f"SELECT seq, id, command FROM jobs WHERE {' AND '.join(where)} " + (
            f"ORDER BY seq {order} LIMIT :scan"
        )
        rows = (
            f"WHERE seq IN (SELECT seq FROM ({window}) WHERE {match} "
            f"ORDER BY seq {order} LIMIT :limit)"
        )
        last = "min" if page.newest else "max"
        end = (
            f"SELECT w.n, j.id FROM (SELECT count(*) AS n, {last}(seq) AS s FROM ({window})) "
            "AS w LEFT JOIN jobs AS j ON j.seq = w.s"
        )
    query = f"SELECT {sql.JOB_COLUMNS} FROM jobs {rows} ORDER BY seq {order} LIMIT :limit"
    return query, end


async def browse_jobs(db: SQLiteConnection, page: JobPage) -> FoundJobs:
    query, end = browse_sql(page)
    params = page._asdict()
    jobs = [job_from_row(row) for row in await db.fetch(query, params)]
    if len(jobs) == page.limit:
        return FoundJobs(jobs, jobs[-1].id)
    if end is None:
        return FoundJobs(jobs, None)
    read, last = (await db.fetch(end, params))[0]
    return FoundJobs(jobs, last if read == page.scan else None)


async def finished_by_minute(
    db: SQLiteConnection, now: float, minutes: int
) -> dict[tuple[int, str], int]:
    rows = await db.fetch(_BY_MINUTE, (now - 60 * minutes,))
    return {(int(minute), state): n for minute, state, n in rows}
