"""Reading and changing jobs on SQLite outside a runner's round trip.

Listing, counting and the next due time for the API and the runner's idle timer;
``retry_dead``, ``purge`` and ``cancel`` for the commands that change finished or
waiting jobs; the claims a runner's upkeep looks at. Wake-ups are the store's to send.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence

from queuectl.domain.errors import InvalidState, JobNotFound, UniqueConflict
from queuectl.domain.models import Job, JobState
from queuectl.store.base import (
    CancelResult,
    RemoveResult,
    RequeueResult,
    requeue_refused,
    taken,
)
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection
from queuectl.store.sqlite.rows import job_from_row

__all__ = [
    "cancel",
    "claims_of",
    "count_jobs",
    "expired_claims",
    "finished_totals",
    "get",
    "list_jobs",
    "next_run_at",
    "purge",
    "remove",
    "requeue",
    "retry_dead",
]

_PAGE = 500


async def get(db: SQLiteConnection, job_id: str) -> Job:
    rows = await db.fetch(sql.GET, (job_id,))
    if not rows:
        raise JobNotFound(job_id)
    return job_from_row(rows[0])


async def list_jobs(
    db: SQLiteConnection,
    state: JobState | None,
    queue: str | None,
    limit: int | None,
    *,
    newest: bool = False,
) -> AsyncIterator[Job]:
    """Jobs oldest (or newest) first, a page at a time (keyset paging on seq)."""
    query = sql.list_page_sql(state=state is not None, queue=queue is not None, newest=newest)
    after, left = (sql.SEQ_END if newest else 0), limit
    while left is None or left > 0:
        page = _PAGE if left is None else min(_PAGE, left)
        params = {"after": after, "state": state, "queue": queue, "page": page}
        rows = await db.fetch(query, params)
        for row in rows:
            yield job_from_row(row[1:])
        if len(rows) < page:
            return
        after = rows[-1][0]
        if left is not None:
            left -= len(rows)


async def count_jobs(db: SQLiteConnection) -> dict[str, dict[JobState, int]]:
    counts: dict[str, dict[JobState, int]] = {}
    for queue, state, n in await db.fetch(sql.COUNT):
        counts.setdefault(queue, dict.fromkeys(JobState, 0))[JobState(state)] = n
    return counts


async def finished_totals(db: SQLiteConnection) -> dict[tuple[str, str], int]:
    return {(queue, outcome): n for queue, outcome, n in await db.fetch(sql.FINISHED_TOTALS)}


async def next_run_at(
    db: SQLiteConnection, states: frozenset[JobState], queues: Sequence[str] | None
) -> float | None:
    query, params = sql.next_run_at_sql(states, queues)
    rows = await db.fetch(query, params)
    return None if not rows else rows[0][0]


async def retry_dead(db: SQLiteConnection, now: float, job_id: str) -> Job:
    try:
        rows = await db.fetch(sql.RETRY_DEAD, {"now": now, "id": job_id})
    except sqlite3.IntegrityError:  # only jobs_unique can refuse it
        raise await _taken(db, job_id) from None
    if not rows:
        job = await get(db, job_id)
        raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
    return job_from_row(rows[0])


async def _taken(db: SQLiteConnection, job_id: str) -> UniqueConflict:
    """The error for a job that cannot be live again: another holds its unique key."""
    rows = await db.fetch(sql.KEY_HOLDER, (job_id,))
    key, holder = rows[0] if rows else ("?", "?")
    return taken(key, holder, job_id)


async def requeue(
    db: SQLiteConnection, now: float, job_ids: Sequence[str]
) -> dict[str, RequeueResult]:
    """Each job in turn, so that a dependency named before its waiter counts as pending."""

    async def run(conn: Conn) -> dict[str, RequeueResult]:
        results: dict[str, RequeueResult] = {}
        for job_id in job_ids:
            try:
                if await conn.execute_fetchall(sql.REQUEUE, {"now": now, "id": job_id}):
                    results[job_id] = "requeued"
            except sqlite3.IntegrityError:  # jobs_unique: another job holds its key
                results[job_id] = "taken"
        found = await conn.execute_fetchall(sql.STATES_OF, (json.dumps(list(job_ids)),))
        states = {row[0]: JobState(row[1]) for row in found}
        for job_id in job_ids:
            if job_id not in results:
                results[job_id] = requeue_refused(states.get(job_id))
        return results

    return await db.transaction(run)


async def remove(db: SQLiteConnection, job_ids: Sequence[str]) -> dict[str, RemoveResult]:
    ids = json.dumps(list(job_ids))

    async def run(conn: Conn) -> dict[str, RemoveResult]:
        found = await conn.execute_fetchall(sql.FOUND_IDS, (ids,))
        removed = await conn.execute_fetchall(sql.REMOVE, (ids,))
        results: dict[str, RemoveResult] = dict.fromkeys(job_ids, "missing")
        results.update(dict.fromkeys((row[0] for row in found), "unfinished"))
        results.update(dict.fromkeys((row[0] for row in removed), "removed"))
        return results

    return await db.transaction(run)


async def purge(
    db: SQLiteConnection,
    now: float,
    states: frozenset[JobState],
    older_than: float | None,
    queue: str | None,
    limit: int,
) -> int:
    cutoff = now - (older_than or 0.0)
    params = {
        "cutoff": cutoff if older_than is not None else float("inf"),
        "states": json.dumps([s.value for s in states]),
        "queue": queue,
        "limit": limit,
    }
    return len(await db.fetch(sql.purge_sql(queue=queue is not None), params))


async def cancel(
    db: SQLiteConnection, now: float, job_ids: Sequence[str]
) -> dict[str, CancelResult]:
    ids = json.dumps(list(job_ids))
    params = {"ids": ids, "now": now}

    async def run(conn: Conn) -> dict[str, CancelResult]:
        found = await conn.execute_fetchall(sql.FOUND_IDS, (ids,))
        cancelled = await conn.execute_fetchall(sql.CANCEL_UNCLAIMED, params)
        requested = await conn.execute_fetchall(sql.CANCEL_RUNNING, params)
        results: dict[str, CancelResult] = dict.fromkeys(job_ids, "missing")
        results.update(dict.fromkeys((row[0] for row in found), "finished"))
        results.update(dict.fromkeys((row[0] for row in cancelled), "cancelled"))
        results.update(dict.fromkeys((row[0] for row in requested), "requested"))
        return results

    return await db.transaction(run)


async def expired_claims(db: SQLiteConnection, now: float) -> list[Job]:
    return [job_from_row(row) for row in await db.fetch(sql.EXPIRED, (now,))]


async def claims_of(db: SQLiteConnection, runner_id: str) -> list[Job]:
    return [job_from_row(row) for row in await db.fetch(sql.CLAIMS_OF, (runner_id,))]
