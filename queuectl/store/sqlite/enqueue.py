"""Enqueue on SQLite: one batch of inserts, dependencies linked in the same transaction.

The batch is all or nothing. A job with ``after`` is linked to the jobs it waits for
and its ``blocked`` count is their number not completed yet; an unknown one is refused
(JobNotFound), and so is one that ended dead or cancelled (InvalidState): the job could
never run. A lone job without dependencies is one statement, its own transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.store.base import NewJob, duplicate_in_batch
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection

__all__ = ["insert_jobs"]


async def insert_jobs(db: SQLiteConnection, now: float, jobs: Sequence[NewJob]) -> None:
    """Insert ``jobs`` created at ``now``, or none of them."""
    rows = [
        (
            j.id,
            j.command,
            j.max_retries,
            j.priority,
            j.queue,
            j.timeout,
            now + j.delay if j.run_at is None else j.run_at,
            now,
            now,
            ",".join(j.after) or None,
            j.backoff_base,
            j.backoff_max,
            j.backoff_jitter,
        )
        for j in jobs
    ]
    waiting = [j for j in jobs if j.after]

    async def insert_one(conn: Conn) -> None:
        await conn.execute(sql.INSERT, rows[0])

    async def insert_all(conn: Conn) -> None:
        await conn.executemany(sql.INSERT, rows)
        if waiting:
            await _link_dependencies(conn, waiting)

    try:
        if len(rows) == 1 and not waiting:
            await db.call(insert_one)
        else:
            await db.transaction(insert_all)
    except sqlite3.IntegrityError:
        raise await _duplicate(db, [j.id for j in jobs]) from None


async def _link_dependencies(conn: Conn, waiting: list[NewJob]) -> None:
    """Record who waits for whom and count unfinished dependencies (in the txn)."""
    deps = json.dumps(sorted({d for j in waiting for d in j.after}))
    missing = list(await conn.execute_fetchall(sql.MISSING_DEPS, (deps,)))
    if missing:
        raise JobNotFound(missing[0][0])
    ended = list(await conn.execute_fetchall(sql.ENDED_DEPS, (deps,)))
    if ended:
        dep_id, state = ended[0]
        raise InvalidState(f"job {dep_id!r} is {state}: a job after it would never run")
    await conn.executemany(sql.LINK_DEPS, [(j.id, d) for j in waiting for d in j.after])
    await conn.execute(sql.COUNT_BLOCKED, (json.dumps([j.id for j in waiting]),))


async def _duplicate(db: SQLiteConnection, ids: list[str]) -> DuplicateJob:
    """The error for a batch a unique index refused: an id that exists, else a repeat."""
    for start in range(0, len(ids), 10_000):
        chunk = json.dumps(ids[start : start + 10_000])
        rows = await db.fetch(sql.EXISTING_ID, (chunk,))
        if rows:
            return DuplicateJob(rows[0][0])
    return duplicate_in_batch(ids)
