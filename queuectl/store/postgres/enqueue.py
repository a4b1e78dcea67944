"""Enqueue on PostgreSQL: multi-row INSERTs, dependencies linked in the same transaction.

The batch is all or nothing. A job with ``after`` is linked to the jobs it waits for,
which are share-locked first (see ``statements.LOCK_DEPS``), and its ``blocked``
count is their number not completed yet; an unknown one is refused (JobNotFound), and
so is one that ended dead or cancelled (InvalidState): the job could never run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.domain.models import from_epoch
from queuectl.store.base import LeftOut, NewJob, duplicate_in_batch, keyed, left_out
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.connection import Conn

__all__ = ["insert_chunks", "insert_jobs", "insert_within"]

_ENDED = ("dead", "cancelled")


async def insert_jobs(
    conn: Conn,
    q: sql.Render,
    at: datetime | None,
    jobs: Sequence[NewJob],
    channel: str,
    *,
    retrying: bool,
) -> LeftOut:
    """Insert ``jobs`` (not empty) and notify ``channel`` on commit; the jobs left out.

    ``q`` renders a statement for the store's schema; ``at`` is the injected time, or
    None for the server's clock. ``retrying``: an earlier try may have committed unseen.
    """
    columns, schedule = _columns(jobs)
    try:
        if not keyed(jobs) and not any(j.after for j in jobs):
            await conn.fetchrow(q(sql.ENQUEUE), at, *columns, *schedule, channel)
            return {}
        async with conn.transaction():
            return await _insert(conn, q, at, jobs, channel)
    except asyncpg.UniqueViolationError:
        if retrying:
            present = await conn.fetchval(q(sql.ENQUEUED_ALREADY), *columns)
            if present == len(jobs):
                return {}  # the first try committed; its reply was lost
        raise await _duplicate(conn, q, columns[0]) from None


async def insert_chunks(
    conn: Conn,
    q: sql.Render,
    at: datetime | None,
    chunks: Iterable[Sequence[NewJob]],
    channel: str,
    on_left_out: Callable[[LeftOut], None] | None = None,
) -> int:
    """Insert every chunk in one transaction, or none; how many jobs were inserted.

    Each chunk runs under a savepoint, so that when the unique index refuses one, the
    jobs of the chunks before it say which id was there already. Notices of one
    transaction with the same payload reach listeners once, at commit.
    """
    count = 0
    async with conn.transaction():
        for jobs in chunks:
            if not jobs:
                continue
            skipped = await insert_within(conn, q, at, jobs, channel)
            count += len(jobs) - len(skipped)
            if skipped and on_left_out is not None:
                on_left_out(skipped)
    return count


async def insert_within(
    conn: Conn, q: sql.Render, at: datetime | None, jobs: Sequence[NewJob], channel: str
) -> LeftOut:
    """Insert ``jobs`` inside the caller's transaction, under a savepoint (a chunk, or a
    schedule's firing); the jobs left out, their unique keys held by live jobs. When the
    unique index of ids refuses one, the savepoint is undone and the jobs inserted before
    say which id was there already (DuplicateJob)."""
    try:
        async with conn.transaction():
            return await _insert(conn, q, at, jobs, channel)
    except asyncpg.UniqueViolationError:
        raise await _duplicate(conn, q, [j.id for j in jobs]) from None


async def _insert(
    conn: Conn, q: sql.Render, at: datetime | None, jobs: Sequence[NewJob], channel: str
) -> LeftOut:
    """Insert one batch inside the caller's transaction; the jobs left out.

    A keyed job the insert skipped names the key's holder, read after the insert (a
    holder still uncommitted made the insert wait for its commit, so it is visible
    now). When the holder finished in between, the job goes in on the next round.
    """
    keys = keyed(jobs)
    columns, schedule = _columns(jobs)
    statement = q(sql.ENQUEUE_KEYED if keys else sql.ENQUEUE)
    await conn.fetchrow(statement, at, *columns, *schedule, channel)
    skipped: LeftOut = {}
    todo = jobs
    while keys:
        live = {row[0]: row[1] for row in await conn.fetch(q(sql.LIVE_KEYS), keys)}
        more, again = left_out(todo, live)
        skipped.update(more)
        if not again:
            break
        columns, schedule = _columns(again)
        await conn.fetchrow(statement, at, *columns, *schedule, channel)
        todo, keys = again, keyed(again)
    waiting = [j for j in jobs if j.after and j.id not in skipped]
    if waiting:
        await _link_dependencies(conn, q, waiting)
    return skipped


def _columns(jobs: Sequence[NewJob]) -> tuple[tuple[list[Any], ...], tuple[list[Any], ...]]:
    """The ENQUEUE statement's arrays: the columns as given, then the schedule and the
    rest (``ENQUEUED_ALREADY`` compares the columns)."""
    columns = (
        [j.id for j in jobs],
        [j.command for j in jobs],
        [j.max_retries for j in jobs],
        [j.priority for j in jobs],
        [j.queue for j in jobs],
        [j.timeout for j in jobs],
    )
    schedule = (
        [j.delay for j in jobs],
        [None if j.run_at is None else from_epoch(j.run_at) for j in jobs],
        [json.dumps(list(j.after)) if j.after else None for j in jobs],
        [j.backoff_base for j in jobs],
        [j.backoff_max for j in jobs],
        [j.backoff_jitter for j in jobs],
        [j.cwd for j in jobs],
        [json.dumps(dict(j.env)) if j.env else None for j in jobs],
        [None if j.retry_on is None else json.dumps(j.retry_on) for j in jobs],
        [j.unique_key for j in jobs],
    )
    return columns, schedule


async def _link_dependencies(conn: Conn, q: sql.Render, waiting: list[NewJob]) -> None:
    deps = sorted({d for j in waiting for d in j.after})
    states = {row["id"]: row["state"] for row in await conn.fetch(q(sql.LOCK_DEPS), deps)}
    missing = [d for d in deps if d not in states]
    if missing:
        raise JobNotFound(missing[0])
    ended = [d for d in deps if states[d] in _ENDED]
    if ended:
        dep_id = ended[0]
        raise InvalidState(f"job {dep_id!r} is {states[dep_id]}: a job after it would never run")
    links = [(j.id, d) for j in waiting for d in j.after]
    await conn.execute(q(sql.LINK_DEPS), [w for w, _ in links], [d for _, d in links])
    await conn.execute(q(sql.COUNT_BLOCKED), [j.id for j in waiting])


async def _duplicate(conn: Conn, q: sql.Render, ids: list[str]) -> DuplicateJob:
    """The error for a batch the unique index refused: an id that exists, else a repeat."""
    existing = await conn.fetchval(q(sql.EXISTING_ID), ids)
    if existing is not None:
        return DuplicateJob(existing)
    return duplicate_in_batch(ids)
