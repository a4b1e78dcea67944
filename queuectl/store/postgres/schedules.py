"""Schedules on PostgreSQL: definitions, firing and fire history.

A firing is one transaction: it locks the schedule's row, checks that the tick is still
to fire, then records it and inserts its job; the row's lock makes a second runner wait
and then find the cursor moved, so it writes nothing. A crash before the commit leaves
neither the fire row nor the job. Each function is an operation for ``PgPool.run``: a
retry after a lost connection first looks for what the first try may have committed.
"""

from __future__ import annotations

from datetime import datetime

from queuectl.domain.errors import DuplicateSchedule, ScheduleNotFound
from queuectl.domain.schedule import Fire, FireResult, Schedule
from queuectl.store.base import FIRE_HISTORY, NewJob, NewSchedule
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.connection import Conn
from queuectl.store.postgres.enqueue import insert_within
from queuectl.store.postgres.pool import PgPool
from queuectl.store.schedule_rows import fire_from_row, schedule_from_row

__all__ = [
    "fire",
    "fires",
    "get",
    "list_all",
    "pass_over",
    "pause",
    "remove",
    "run",
    "save",
]


async def save(
    pool: PgPool, q: sql.Render, at: datetime | None, new: NewSchedule, replace: bool
) -> None:
    values = (new.name, new.cron, new.timezone, new.job, new.catch_up, new.no_overlap)

    async def op(conn: Conn, retrying: bool) -> None:
        if replace and await conn.execute(q(sql.REPLACE_SCHEDULE), at, *values) != "UPDATE 0":
            return
        if await conn.execute(q(sql.ADD_SCHEDULE), at, *values) == "INSERT 0 0":
            if retrying:  # the first try may have added it
                row = await conn.fetchrow(q(sql.GET_SCHEDULE), new.name)
                if row is not None and tuple(row[:6]) == values:
                    return
            raise DuplicateSchedule(new.name)

    await pool.run(op)


async def get(pool: PgPool, q: sql.Render, name: str) -> Schedule:
    rows = await pool.fetch(q(sql.GET_SCHEDULE), name)
    if not rows:
        raise ScheduleNotFound(name)
    return schedule_from_row(rows[0])


async def list_all(pool: PgPool, q: sql.Render) -> list[Schedule]:
    return [schedule_from_row(row) for row in await pool.fetch(q(sql.LIST_SCHEDULES))]


async def remove(pool: PgPool, q: sql.Render, name: str) -> None:
    async def op(conn: Conn, retrying: bool) -> None:
        if await conn.execute(q(sql.REMOVE_SCHEDULE), name) == "DELETE 0" and not retrying:
            raise ScheduleNotFound(name)

    await pool.run(op)


async def pause(pool: PgPool, q: sql.Render, at: datetime | None, name: str, paused: bool) -> None:
    async def op(conn: Conn, retrying: bool) -> None:
        if await conn.execute(q(sql.PAUSE_SCHEDULE), at, name, paused) == "UPDATE 0":
            raise ScheduleNotFound(name)

    await pool.run(op)


class _Taken(Exception):
    """Another firing recorded the tick first: roll back what this one inserted."""


async def fire(
    pool: PgPool,
    q: sql.Render,
    at: datetime | None,
    channel: str,
    name: str,
    tick: float,
    job: NewJob,
    missed: int,
) -> FireResult:
    async def op(conn: Conn, retrying: bool) -> FireResult:
        try:
            return await fire_in(conn, retrying)
        except _Taken:  # its transaction was rolled back
            return "taken"

    async def fire_in(conn: Conn, retrying: bool) -> FireResult:
        async with conn.transaction():
            if retrying:
                recorded = await conn.fetchrow(q(sql.FIRE_OF), name, tick, "tick")
                if recorded is not None:
                    return "fired" if recorded[0] == job.id else "taken"
            state = await conn.fetchrow(q(sql.FIRING_STATE), name, tick)
            if state is None or not state[0]:
                return "taken"
            result: FireResult
            holder = None
            fired = ("tick", "fired", job.id, None)
            if not state[1]:
                ignore = [job._replace(on_conflict="ignore")]  # a held key skips the tick
                holder = (await insert_within(conn, q, at, ignore, channel)).get(job.id)
            if state[1] or holder is not None:
                reason = "overlap" if state[1] else "unique"
                record = ("tick", "skipped", holder, reason)
                if not await conn.fetchrow(q(sql.RECORD_FIRE), at, name, tick, *record):
                    raise _Taken
                await conn.execute(q(sql.SKIPPED), name, tick, missed)
                result = "skipped"
            elif await conn.fetchrow(q(sql.RECORD_FIRE), at, name, tick, *fired):
                await conn.execute(q(sql.FIRED), name, tick, missed, job.id)
                result = "fired"
            else:
                raise _Taken  # undoes the job inserted above
            await conn.execute(q(sql.TRIM_FIRES), name, FIRE_HISTORY - 1)
            return result

    return await pool.run(op)


async def run(
    pool: PgPool, q: sql.Render, at: datetime | None, channel: str, name: str, job: NewJob
) -> None:
    async def op(conn: Conn, retrying: bool) -> None:
        async with conn.transaction():
            if retrying and await conn.fetchval(q(sql.RUN_OF), name, job.id):
                return
            if await conn.fetchrow(q(sql.GET_SCHEDULE), name) is None:
                raise ScheduleNotFound(name)
            when = await conn.fetchval(q(sql.EPOCH_NOW), at)
            await insert_within(conn, q, at, [job._replace(on_conflict="error")], channel)
            await conn.fetchrow(q(sql.RECORD_FIRE), at, name, when, "run", "fired", job.id, None)
            await conn.execute(q(sql.RAN), name, when, job.id)

    await pool.run(op)


async def pass_over(pool: PgPool, q: sql.Render, name: str, upto: float, missed: int) -> None:
    async def op(conn: Conn, retrying: bool) -> None:
        await conn.execute(q(sql.PASS_OVER), name, upto, missed)

    await pool.run(op)


async def fires(pool: PgPool, q: sql.Render, name: str, limit: int) -> list[Fire]:
    rows = await pool.fetch(q(sql.LIST_FIRES), name, limit)
    if not rows:
        await get(pool, q, name)  # ScheduleNotFound, or a schedule that never fired
    return [fire_from_row(row) for row in rows]
