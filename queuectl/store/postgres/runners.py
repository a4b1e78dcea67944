"""The runner registry on PostgreSQL: entries, heartbeats with their leases, stop requests.

Wake-ups go through the database (``pg_notify`` on the queue's channel), so a stop
request and its notification commit together. A heartbeat also reads the server's
clock, so the store keeps its estimate of the offset fresh at no extra round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from queuectl.domain.models import RunnerInfo
from queuectl.store.base import Heartbeat, WakeKind
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.clock import ServerClock
from queuectl.store.postgres.connection import Conn
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import runner_from_row

__all__ = ["heartbeat", "list_runners", "notify", "register", "request_stop", "unregister"]


async def register(pool: PgPool, q: sql.Render, runner: RunnerInfo) -> None:
    await pool.fetch(
        q(sql.REGISTER),
        runner.id,
        runner.host,
        runner.pid,
        runner.started_at,
        runner.heartbeat_at,
        runner.concurrency,
        runner.pid_start,
        list(runner.queues),
        runner.wake,
        runner.stop_requested,
    )


async def unregister(pool: PgPool, q: sql.Render, runner_id: str) -> None:
    await pool.fetch(q(sql.UNREGISTER), runner_id)


async def list_runners(pool: PgPool, q: sql.Render) -> list[RunnerInfo]:
    return [runner_from_row(row) for row in await pool.fetch(q(sql.LIST_RUNNERS))]


async def heartbeat(
    pool: PgPool, q: sql.Render, clock: ServerClock, runner_id: str, lease_seconds: float
) -> Heartbeat:
    async def op(conn: Conn, retrying: bool) -> asyncpg.Record | None:
        before = time.time()
        row = await conn.fetchrow(q(sql.HEARTBEAT), clock.at(), runner_id, lease_seconds)
        if row is not None:
            clock.note(row["server_time"], before)
        return row

    row = await pool.run(op)
    assert row is not None  # the statement always returns one row
    stop = row["stop_requested"]
    return Heartbeat(
        held=frozenset(row["held"]),
        stop_requested=0 if stop is None else int(stop),
        registered=stop is not None,
        cancel=frozenset(row["cancel"]),
    )


async def request_stop(
    pool: PgPool, q: sql.Render, runner_ids: Sequence[str], *, hard: bool
) -> None:
    """Flag the runners and wake them, in one transaction."""

    async def op(conn: Conn, retrying: bool) -> None:
        async with conn.transaction():
            await conn.execute(q(sql.REQUEST_STOP), 2 if hard else 1, list(runner_ids))
            await conn.execute(sql.NOTIFY, pool.target.channel, "control")

    await pool.run(op)


async def notify(pool: PgPool, kind: WakeKind) -> None:
    await pool.fetch(sql.NOTIFY, pool.target.channel, kind)
