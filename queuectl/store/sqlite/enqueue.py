"""Enqueue on SQLite: batches of inserts, dependencies linked in the same transaction.

A batch is all or nothing. A job with ``after`` is linked to the jobs it waits for
and its ``blocked`` count is their number not completed yet; an unknown one is refused
(JobNotFound), and so is one that ended dead or cancelled (InvalidState): the job could
never run. A lone job without dependencies is one statement, its own transaction.

A bulk input comes in chunks, all inserted in one transaction: each chunk under a
savepoint, so that when the unique index refuses one, the chunk is undone and the jobs
of the chunks before it say which id was there already.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.store.base import NewJob, duplicate_in_batch
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection

__all__ = ["insert_chunks", "insert_jobs", "insert_within"]


def _rows(now: float, jobs: Sequence[NewJob]) -> list[tuple[Any, ...]]:
    return [
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


async def insert_jobs(db: SQLiteConnection, now: float, jobs: Sequence[NewJob]) -> None:
    """Insert ``jobs`` created at ``now``, or none of them."""
    if len(jobs) == 1 and not jobs[0].after:
        row = _rows(now, jobs)[0]

        async def insert_one(conn: Conn) -> None:
            await conn.execute(sql.INSERT, row)

        try:
            await db.call(insert_one)
        except sqlite3.IntegrityError:
            raise DuplicateJob(jobs[0].id) from None
        return

    async def insert_all(conn: Conn) -> None:
        await _insert_chunk(conn, now, jobs)

    await db.transaction(insert_all)


async def insert_chunks(
    db: SQLiteConnection, now: float, chunks: Iterable[Sequence[NewJob]]
) -> int:
    """Insert every chunk in one transaction, or none; how many jobs were inserted.

    Never run again on a busy database: the chunks taken cannot be taken twice (the
    transaction starts with the write lock, so it does not meet a busy one after).
    """

    async def insert_all(conn: Conn) -> int:
        count = 0
        for jobs in chunks:
            if jobs:
                await _insert_chunk(conn, now, jobs)
                count += len(jobs)
        return count

    return await db.transaction(insert_all, retry=False)


async def insert_within(conn: Conn, now: float, jobs: Sequence[NewJob]) -> None:
    """Insert ``jobs`` inside the caller's transaction (a schedule's firing)."""
    await _insert_chunk(conn, now, jobs)


async def _insert_chunk(conn: Conn, now: float, jobs: Sequence[NewJob]) -> None:
    """Insert one chunk inside the caller's transaction."""
    await conn.execute(sql.SAVEPOINT_CHUNK)
    try:
        await conn.executemany(sql.INSERT, _rows(now, jobs))
    except sqlite3.IntegrityError:
        await conn.execute(sql.ROLLBACK_CHUNK)
        raise await _duplicate(conn, [j.id for j in jobs]) from None
    waiting = [j for j in jobs if j.after]
    if waiting:
        await _link_dependencies(conn, waiting)
    await conn.execute(sql.RELEASE_CHUNK)


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


async def _duplicate(conn: Conn, ids: list[str]) -> DuplicateJob:
    """The error for a chunk the unique index refused (and that was undone): an id
    there before it (stored before, or by an earlier chunk), else one it repeats."""
    rows = list(await conn.execute_fetchall(sql.EXISTING_ID, (json.dumps(ids),)))
    if rows:
        return DuplicateJob(rows[0][0])
    return duplicate_in_batch(ids)
