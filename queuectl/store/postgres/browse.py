"""Reads for browsing: one keyset page of jobs, and finished jobs per minute.

A page starts after a job id (its ``seq`` looked up through the unique id index), so
deep pages cost what the first one does; there is never an OFFSET.
"""

from __future__ import annotations

from queuectl.domain.models import Job
from queuectl.store.base import JobPage
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.clock import At
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import job_from_row

__all__ = ["browse_jobs", "finished_by_minute"]

_BY_MINUTE = """
SELECT (floor(extract(epoch FROM finished_at) / 60) * 60)::bigint, state, count(*)
FROM {s}.jobs
WHERE state IN ('completed', 'dead', 'cancelled')
  AND finished_at > {now} - make_interval(mins => $2)
GROUP BY 1, 2
"""


def browse_sql(page: JobPage) -> tuple[str, list[object]]:
    """The page's statement and its arguments, numbered as the filters given need."""
    cmp, order, edge = ("<", "DESC", sql.SEQ_END) if page.newest else (">", "", 0)
    args: list[object] = [page.after, page.limit]
    where = [f"seq {cmp} coalesce((SELECT seq FROM {{s}}.jobs WHERE id = $1), {edge})"]
    for clause, value in (
        ("state = ${n}", page.state),
        ("queue = ${n}", page.queue),
        ("(strpos(id, ${n}) > 0 OR strpos(command, ${n}) > 0)", page.text or None),
    ):
        if value is not None:
            args.append(value)
            where.append(clause.format(n=len(args)))
    query = (
        f"SELECT {sql.JOB_COLUMNS} FROM {{s}}.jobs WHERE {' AND '.join(where)} "
        f"ORDER BY seq {order} LIMIT $2"
    )
    return query, args


async def browse_jobs(pool: PgPool, q: sql.Render, page: JobPage) -> list[Job]:
    query, args = browse_sql(page)
    return [job_from_row(row) for row in await pool.fetch(q(query), *args)]


async def finished_by_minute(
    pool: PgPool, q: sql.Render, at: At, minutes: int
) -> dict[tuple[int, str], int]:
    rows = await pool.fetch(q(_BY_MINUTE), at(), minutes)
    return {(int(r[0]), r[1]): int(r[2]) for r in rows}
