"""Output and attempt history on PostgreSQL, kept in the database beside their jobs.

Output lives in the database, so it is readable from every host that reaches it, and
goes with its job when the job is purged (as does the history). An output write applies
only where it brings more bytes, so writing it again after a lost reply is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence

from queuectl.domain.errors import JobNotFound
from queuectl.domain.models import Attempt, JobOutput
from queuectl.store.base import OutputWrite
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.clock import At
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import attempt_from_row, output_from_row, output_params

__all__ = ["attempts", "finished_since", "read_output", "write_output"]


async def write_output(pool: PgPool, q: sql.Render, writes: Sequence[OutputWrite]) -> None:
    if writes:
        await pool.fetch(q(sql.WRITE_OUTPUT), *output_params(writes))


async def read_output(pool: PgPool, q: sql.Render, job_id: str, token: int) -> dict[int, JobOutput]:
    rows = await pool.fetch(q(sql.READ_OUTPUT), job_id, token)
    return {row["stream"]: output_from_row(row) for row in rows}


async def attempts(pool: PgPool, q: sql.Render, job_id: str) -> list[Attempt]:
    rows = await pool.fetch(q(sql.ATTEMPTS), job_id)
    if not rows:
        raise JobNotFound(job_id)
    return [attempt_from_row(row) for row in rows if row["token"] is not None]


async def finished_since(pool: PgPool, q: sql.Render, at: At, seconds: float) -> int:
    rows = await pool.fetch(q(sql.FINISHED_SINCE), at(), seconds)
    return int(rows[0][0])
