"""Reads for browsing: one keyset page of jobs, and finished jobs per minute.

A page starts after a job id (its ``seq`` looked up through the unique id index), so
deep pages cost what the first one does; there is never an OFFSET.
"""

from __future__ import annotations

import re

from queuectl.store.base import FoundJobs, JobPage
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import job_from_row

__all__ = ["browse_jobs", "finished_by_minute"]

# The cutoff is written into the statement, not passed as a parameter: with a
# parameter, the plan PostgreSQL caches after a few runs guesses a third of the table
# and scans it all, where the index range is a minute or two of jobs.
_BY_MINUTE = """
SELECT (floor(extract(epoch FROM finished_at) / 60) * 60)::bigint, state, count(*)
FROM {{s}}.jobs
WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at > to_timestamp({cutoff:.6f})
GROUP BY 1, 2
"""


def _positional(query: str, values: dict[str, object]) -> tuple[str, list[object]]:
    """``query`` with its ``:name`` parameters numbered ``$1``… and their values in order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r":(\w+)", number, query), [values[name] for name in names]


def browse_sql(page: JobPage) -> tuple[str, str | None]:
    """The page's statement (``:name`` parameters) and, for a bounded text search, the
    one that finds where the rows it read end (how many it read, and the last one's id)."""
    cmp, order, edge = ("<", "DESC", sql.SEQ_END) if page.newest else (">", "", 0)
    where = [f"seq {cmp} coalesce((SELECT seq FROM {{s}}.jobs WHERE id = :after), {edge})"]
    if page.state is not None:
        where.append("state = :state")
    if page.queue is not None:
        where.append("queue = :queue")
    match = "(strpos(id, :text) > 0 OR strpos(command, :text) > 0)"
    if not page.text:
        rows, end = f"WHERE {' AND '.join(where)}", None
    elif page.scan is None:
        rows, end = f"WHERE {' AND '.join([*where, match])}", None
    else:
        window = f"SELECT seq, id, command FROM {{s}}.jobs WHERE {' AND '.join(where)} " + (
            f"ORDER BY seq {order} LIMIT :scan"
        )
        rows = (
            f"WHERE seq IN (SELECT seq FROM ({window}) AS r WHERE {match} "
            f"ORDER BY seq {order} LIMIT :limit)"
        )
        last = "min" if page.newest else "max"
        end = (
            f"SELECT w.n, j.id FROM (SELECT count(*) AS n, {last}(seq) AS s FROM ({window}) "
            "AS r) AS w LEFT JOIN {s}.jobs AS j ON j.seq = w.s"
        )
    query = f"SELECT {sql.JOB_COLUMNS} FROM {{s}}.jobs {rows} ORDER BY seq {order} LIMIT :limit"
    return query, end


async def browse_jobs(pool: PgPool, q: sql.Render, page: JobPage) -> FoundJobs:
    query, end = browse_sql(page)
    values = page._asdict()
    statement, args = _positional(query, values)
    jobs = [job_from_row(row) for row in await pool.fetch(q(statement), *args)]
    if len(jobs) == page.limit:
        return FoundJobs(jobs, jobs[-1].id)
    if end is None:
        return FoundJobs(jobs, None)
    statement, args = _positional(end, values)
    read, last = (await pool.fetch(q(statement), *args))[0]
    return FoundJobs(jobs, last if read == page.scan else None)


async def finished_by_minute(
    pool: PgPool, q: sql.Render, now: float, minutes: int
) -> dict[tuple[int, str], int]:
    rows = await pool.fetch(q(_BY_MINUTE.format(cutoff=now - 60 * minutes)))
    return {(int(r[0]), r[1]): int(r[2]) for r in rows}
