"""Reading and changing jobs on PostgreSQL outside a runner's round trip.

Reads are idempotent statements, simply tried again after a lost connection. The
changes that must not apply twice (``retry_dead``, ``cancel``) stamp the rows they
change with a random operation id; a retry first looks for its own stamp, because the
reply of a committed statement can be lost with its connection. Their notifications
commit with them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Sequence

import asyncpg

from queuectl.domain.errors import InvalidState, JobNotFound, StoreError, UniqueConflict
from queuectl.domain.models import FINISHED_STATES, Job, JobState
from queuectl.store.base import (
    CancelResult,
    RemoveResult,
    RequeueResult,
    requeue_refused,
    taken,
)
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.clock import At
from queuectl.store.postgres.connection import Conn
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import job_from_row

__all__ = [
    "FOLD_INTERVAL",
    "cancel",
    "claims_of",
    "count_jobs",
    "expired_claims",
    "finished_totals",
    "fold_loop",
    "fold_tallies",
    "get",
    "list_jobs",
    "next_run_at",
    "purge",
    "remove",
    "requeue",
    "retry_dead",
]

_PAGE = 500
#: Seconds between two folds of the tallies' deltas by a runner.
FOLD_INTERVAL = 1.0

log = logging.getLogger("queuectl.runner")


def _op_id() -> int:
    return secrets.randbits(63)


async def get(pool: PgPool, q: sql.Render, job_id: str) -> Job:
    rows = await pool.fetch(q(sql.GET), job_id)
    if not rows:
        raise JobNotFound(job_id)
    return job_from_row(rows[0])


async def list_jobs(
    pool: PgPool,
    q: sql.Render,
    state: JobState | None,
    queue: str | None,
    limit: int | None,
    *,
    newest: bool = False,
) -> AsyncIterator[Job]:
    """Jobs oldest (or newest) first, a page at a time (keyset paging on seq)."""
    query = q(sql.list_page_sql(state=state is not None, queue=queue is not None, newest=newest))
    filters = [v for v in (state, queue) if v is not None]
    after, left = (sql.SEQ_END if newest else 0), limit
    while left is None or left > 0:
        page = _PAGE if left is None else min(_PAGE, left)
        rows = await pool.fetch(query, after, page, *filters)
        for row in rows:
            yield job_from_row(row)
        if len(rows) < page:
            return
        after = rows[-1]["seq"]
        if left is not None:
            left -= len(rows)


async def count_jobs(pool: PgPool, q: sql.Render) -> dict[str, dict[JobState, int]]:
    counts: dict[str, dict[JobState, int]] = {}
    for queue, state, n in await pool.fetch(q(sql.TALLIES), "state"):
        counts.setdefault(queue, dict.fromkeys(JobState, 0))[JobState(state)] = n
    return counts


async def finished_totals(pool: PgPool, q: sql.Render) -> dict[tuple[str, str], int]:
    return {
        (queue, outcome): n for queue, outcome, n in await pool.fetch(q(sql.TALLIES), "finished")
    }


async def fold_tallies(pool: PgPool, q: sql.Render) -> None:
    """Fold the deltas the triggers appended into the tallies (repeatable: a retry
    after a lost reply folds what is left)."""
    await pool.fetch(q(sql.FOLD_TALLIES))


async def fold_loop(pool: PgPool, q: sql.Render) -> None:
    """Fold every ``FOLD_INTERVAL`` while a runner runs, so that a read of the tallies
    adds up a few deltas only; a failed fold is tried at the next turn."""
    while True:
        await asyncio.sleep(FOLD_INTERVAL)
        try:
            await fold_tallies(pool, q)
        except StoreError as exc:
            log.warning("folding the job counts failed, trying again later: %s", exc)


async def next_run_at(
    pool: PgPool, q: sql.Render, states: frozenset[JobState], queues: Sequence[str] | None
) -> float | None:
    if not states:
        return None
    names = list(dict.fromkeys(queues or ()))
    query = sql.next_run_at_sql(sorted(JobState(s).value for s in states), queues=bool(names))
    rows = await pool.fetch(q(query), *([names] if names else []))
    value = rows[0][0]
    return None if value is None else float(value)


async def retry_dead(pool: PgPool, q: sql.Render, at: At, job_id: str) -> Job:
    """Make a dead job pending again (and notify the runners with the commit)."""
    op_id = _op_id()

    async def op(conn: Conn, retrying: bool) -> asyncpg.Record | UniqueConflict | None:
        if retrying:
            row = await conn.fetchrow(q(sql.RETRIED_BY_OP), job_id, op_id)
            if row is not None:
                return row
        try:
            async with conn.transaction():
                row = await conn.fetchrow(q(sql.RETRY_DEAD), at(), job_id, op_id)
                if row is not None:
                    await conn.execute(sql.NOTIFY, pool.target.channel, "jobs")
        except asyncpg.UniqueViolationError:  # only jobs_unique can refuse it
            holder = await conn.fetchrow(q(sql.KEY_HOLDER), job_id)
            key, other = (holder[0], holder[1]) if holder is not None else ("?", "?")
            return taken(key, other, job_id)
        return row

    row = await pool.run(op)
    if isinstance(row, UniqueConflict):
        raise row
    if row is None:
        job = await get(pool, q, job_id)
        raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
    return job_from_row(row)


async def requeue(
    pool: PgPool, q: sql.Render, at: At, job_ids: Sequence[str]
) -> dict[str, RequeueResult]:
    """Each job in turn in one transaction (a dependency named before its waiter counts
    as pending), stamped with an op id, and the runners notified with the commit."""
    ids = list(dict.fromkeys(job_ids))
    op_id = _op_id()

    async def op(conn: Conn, retrying: bool) -> dict[str, RequeueResult]:
        results: dict[str, RequeueResult] = {}
        if retrying:
            rows = await conn.fetch(q(sql.REQUEUED_BY_OP), ids, op_id)
            results.update(dict.fromkeys((r["id"] for r in rows), "requeued"))
        async with conn.transaction():
            for job_id in ids:
                if job_id in results:
                    continue
                await conn.fetch(q(sql.LOCK_OWN_DEPS), job_id)
                try:
                    async with conn.transaction():  # a savepoint: a refusal undoes one job
                        row = await conn.fetchrow(q(sql.REQUEUE), at(), job_id, op_id)
                except asyncpg.UniqueViolationError:  # jobs_unique: another holds its key
                    results[job_id] = "taken"
                    continue
                if row is not None:
                    results[job_id] = "requeued"
            if "requeued" in results.values():
                await conn.execute(sql.NOTIFY, pool.target.channel, "jobs")
        rows = await conn.fetch(q(sql.STATES_OF), ids)
        states = {r["id"]: JobState(r["state"]) for r in rows}
        for job_id in ids:
            if job_id not in results:
                results[job_id] = requeue_refused(states.get(job_id))
        return results

    return await pool.run(op)


async def remove(pool: PgPool, q: sql.Render, job_ids: Sequence[str]) -> dict[str, RemoveResult]:
    """One statement. After a lost reply the try again finds the removed jobs gone, and
    says they are missing."""
    ids = list(dict.fromkeys(job_ids))
    results: dict[str, RemoveResult] = dict.fromkeys(ids, "missing")
    for row in await pool.fetch(q(sql.REMOVE), ids):
        results[row["id"]] = "removed" if row["removed"] else "unfinished"
    return results


async def purge(
    pool: PgPool,
    q: sql.Render,
    at: At,
    states: frozenset[JobState],
    older_than: float | None,
    queue: str | None,
    limit: int,
) -> int:
    chosen = sorted(s.value for s in states & FINISHED_STATES)
    if not chosen or limit <= 0:
        return 0
    rows = await pool.fetch(q(sql.PURGE), at(), chosen, older_than, queue, limit)
    return int(rows[0][0])


async def cancel(
    pool: PgPool, q: sql.Render, at: At, job_ids: Sequence[str]
) -> dict[str, CancelResult]:
    """Cancel unclaimed jobs, flag running ones (their runners notified), in one statement."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    op_id = _op_id()

    async def op(conn: Conn, retrying: bool) -> dict[str, CancelResult]:
        results: dict[str, CancelResult] = dict.fromkeys(ids, "missing")
        rest = ids
        if retrying:  # the jobs an earlier try cancelled would now look finished
            rows = await conn.fetch(q(sql.CANCELLED_BY_OP), ids, op_id)
            results.update(dict.fromkeys((r["id"] for r in rows), "cancelled"))
            rest = [i for i in ids if results[i] == "missing"]
        # Again for the others: a flag set again is harmless (its runner told again).
        rows = await conn.fetch(q(sql.CANCEL), at(), rest, pool.target.channel, op_id)
        results.update((r["id"], r["result"]) for r in rows if r["id"] is not None)
        return results

    return await pool.run(op)


async def expired_claims(pool: PgPool, q: sql.Render, at: At) -> list[Job]:
    return [job_from_row(row) for row in await pool.fetch(q(sql.EXPIRED), at())]


async def claims_of(pool: PgPool, q: sql.Render, runner_id: str) -> list[Job]:
    return [job_from_row(row) for row in await pool.fetch(q(sql.CLAIMS_OF), runner_id)]
