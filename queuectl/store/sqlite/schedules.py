"""Schedules on SQLite: definitions, firing and fire history.

A firing is one write transaction (``BEGIN IMMEDIATE``, so runners take turns): it
checks that the tick is still to fire, then records it and inserts its job. A runner
that comes second finds the cursor moved (or the fire row there) and writes nothing; a
crash before the commit leaves neither the row nor the job.
"""

from __future__ import annotations

import sqlite3

from queuectl.domain.errors import DuplicateSchedule, ScheduleNotFound
from queuectl.domain.schedule import Fire, FireResult, Schedule
from queuectl.store.base import FIRE_HISTORY, NewJob, NewSchedule
from queuectl.store.schedule_rows import fire_from_row, schedule_from_row
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection
from queuectl.store.sqlite.enqueue import insert_within

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


async def save(db: SQLiteConnection, now: float, new: NewSchedule, replace: bool) -> None:
    params = {**new._asdict(), "now": now}

    async def op(conn: Conn) -> None:
        if replace:
            cursor = await conn.execute(sql.REPLACE_SCHEDULE, params)
            if cursor.rowcount:
                return
        try:
            await conn.execute(sql.ADD_SCHEDULE, params)
        except sqlite3.IntegrityError:
            raise DuplicateSchedule(new.name) from None

    await db.transaction(op)


async def get(db: SQLiteConnection, name: str) -> Schedule:
    rows = await db.fetch(sql.GET_SCHEDULE, (name,))
    if not rows:
        raise ScheduleNotFound(name)
    return schedule_from_row(rows[0])


async def list_all(db: SQLiteConnection) -> list[Schedule]:
    return [schedule_from_row(row) for row in await db.fetch(sql.LIST_SCHEDULES)]


async def remove(db: SQLiteConnection, name: str) -> None:
    async def op(conn: Conn) -> None:
        if not (await conn.execute(sql.REMOVE_SCHEDULE, (name,))).rowcount:
            raise ScheduleNotFound(name)

    await db.transaction(op)


async def pause(db: SQLiteConnection, now: float, name: str, paused: bool) -> None:
    async def op(conn: Conn) -> None:
        params = {"name": name, "paused": paused, "now": now}
        if not (await conn.execute(sql.PAUSE_SCHEDULE, params)).rowcount:
            raise ScheduleNotFound(name)

    await db.transaction(op)


async def fire(
    db: SQLiteConnection, now: float, name: str, at: float, job: NewJob, missed: int
) -> FireResult:
    params = {"name": name, "at": at, "now": now, "missed": missed, "kind": "tick"}

    async def op(conn: Conn) -> FireResult:
        rows = list(await conn.execute_fetchall(sql.FIRING_STATE, params))
        if not rows or not rows[0][0]:
            return "taken"
        result: FireResult
        holder = None if rows[0][1] else await _insert(conn, now, job)
        if rows[0][1] or holder is not None:
            reason = "overlap" if rows[0][1] else "unique"
            skip = {**params, "outcome": "skipped", "job_id": holder, "reason": reason}
            await conn.execute(sql.RECORD_FIRE, skip)
            await conn.execute(sql.SKIPPED, params)
            result = "skipped"
        else:
            fired = {**params, "outcome": "fired", "job_id": job.id, "reason": None}
            await conn.execute(sql.RECORD_FIRE, fired)
            await conn.execute(sql.FIRED, fired)
            result = "fired"
        await conn.execute(sql.TRIM_FIRES, {"name": name, "keep": FIRE_HISTORY - 1})
        return result

    return await db.transaction(op)


async def _insert(conn: Conn, now: float, job: NewJob) -> str | None:
    """Insert a tick's job; None, or the live job holding its unique key (then nothing
    was inserted: the tick is skipped, whatever the template's ``on_conflict``)."""
    left_out = await insert_within(conn, now, [job._replace(on_conflict="ignore")])
    return left_out.get(job.id)


async def run(db: SQLiteConnection, now: float, name: str, job: NewJob) -> None:
    params = {
        "name": name,
        "at": now,
        "now": now,
        "kind": "run",
        "outcome": "fired",
        "reason": None,
    }

    async def op(conn: Conn) -> None:
        if not list(await conn.execute_fetchall(sql.GET_SCHEDULE, (name,))):
            raise ScheduleNotFound(name)
        await insert_within(conn, now, [job._replace(on_conflict="error")])
        await conn.execute(sql.RECORD_FIRE, {**params, "job_id": job.id})
        await conn.execute(sql.RAN, {**params, "job_id": job.id})

    await db.transaction(op)


async def pass_over(db: SQLiteConnection, name: str, upto: float, missed: int) -> None:
    async def op(conn: Conn) -> None:
        await conn.execute(sql.PASS_OVER, {"name": name, "upto": upto, "missed": missed})

    await db.transaction(op)


async def fires(db: SQLiteConnection, name: str, limit: int) -> list[Fire]:
    rows = await db.fetch(sql.LIST_FIRES, (name, limit))
    if not rows:
        await get(db, name)  # ScheduleNotFound, or a schedule that never fired
    return [fire_from_row(row) for row in rows]
