"""Enqueue on SQLite: batches of inserts, dependencies linked in the same transaction.

A batch is all or nothing. A job with ``after`` is linked to the jobs it waits for
and its ``blocked`` count is their number not completed yet; an unknown one is refused
(JobNotFound), and so is one that ended dead or cancelled (InvalidState): the job could
never run. A lone job without dependencies or unique key is one statement, its own
transaction.

A bulk input comes in chunks, all inserted in one transaction: each chunk under a
savepoint, so that when the unique index refuses one, the chunk is undone and the jobs
of the chunks before it say which id was there already.

Jobs with unique keys go in with ``ON CONFLICT DO NOTHING`` on the partial index of
live keys; the holders of the keys, read after in the same transaction, say which were
left out and for whom (``base.left_out``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound, UniqueConflict
from queuectl.store.base import LeftOut, NewJob, duplicate_in_batch, keyed, left_out
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
            j.cwd,
            json.dumps(dict(j.env)) if j.env else None,
            None if j.retry_on is None else json.dumps(j.retry_on),
            j.unique_key,
        )
        for j in jobs
    ]


async def insert_jobs(db: SQLiteConnection, now: float, jobs: Sequence[NewJob]) -> LeftOut:
    """Insert ``jobs`` created at ``now``, or none of them (but for those left out)."""
    if len(jobs) == 1 and not jobs[0].after and jobs[0].unique_key is None:
        row = _rows(now, jobs)[0]

        async def insert_one(conn: Conn) -> None:
            await conn.execute(sql.INSERT, row)

        try:
            await db.call(insert_one)
        except sqlite3.IntegrityError:
            raise DuplicateJob(jobs[0].id) from None
        return {}

    async def insert_all(conn: Conn) -> LeftOut:
        return await _insert_chunk(conn, now, jobs)

    return await db.transaction(insert_all)


async def insert_chunks(
    db: SQLiteConnection,
    now: float,
    chunks: Iterable[Sequence[NewJob]],
    on_left_out: Callable[[LeftOut], None] | None = None,
) -> int:
    """Insert every chunk in one transaction, or none; how many jobs were inserted.

    Never run again on a busy database: the chunks taken cannot be taken twice (the
    transaction starts with the write lock, so it does not meet a busy one after).
    """

    async def insert_all(conn: Conn) -> int:
        count = 0
        for jobs in chunks:
            if jobs:
                skipped = await _insert_chunk(conn, now, jobs)
                count += len(jobs) - len(skipped)
                if skipped and on_left_out is not None:
                    on_left_out(skipped)
        return count

    return await db.transaction(insert_all, retry=False)


async def insert_within(conn: Conn, now: float, jobs: Sequence[NewJob]) -> LeftOut:
    """Insert ``jobs`` inside the caller's transaction (a schedule's firing); the jobs
    left out, their unique keys held by live jobs."""
    return await _insert_chunk(conn, now, jobs)


async def _insert_chunk(conn: Conn, now: float, jobs: Sequence[NewJob]) -> LeftOut:
    """Insert one chunk inside the caller's transaction; the jobs left out."""
    await conn.execute(sql.SAVEPOINT_CHUNK)
    keys = keyed(jobs)
    try:
        await conn.executemany(sql.INSERT_KEYED if keys else sql.INSERT, _rows(now, jobs))
    except sqlite3.IntegrityError:
        await conn.execute(sql.ROLLBACK_CHUNK)
        raise await _duplicate(conn, [j.id for j in jobs]) from None
    skipped: LeftOut = {}
    if keys:  # the transaction holds the write lock: no holder can finish meanwhile
        live = await conn.execute_fetchall(sql.LIVE_KEYS, (json.dumps(keys),))
        try:
            skipped, _ = left_out(jobs, {row[0]: row[1] for row in live})
        except UniqueConflict:
            await conn.execute(sql.ROLLBACK_CHUNK)
            raise
    waiting = [j for j in jobs if j.after and j.id not in skipped]
    if waiting:
        await _link_dependencies(conn, waiting)
    await conn.execute(sql.RELEASE_CHUNK)
    return skipped


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
