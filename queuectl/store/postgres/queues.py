"""Queue settings on PostgreSQL: pause and cap, and the age of each queue's oldest job.

The claim statement reads ``queue_settings`` itself (``statements.exchange_sql``);
this module writes and reads the rows for the API. Each change is idempotent, so a
retry after a lost reply applies it again harmlessly.
"""

from __future__ import annotations

from collections.abc import Sequence

from queuectl.store.base import QueueSetting
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.connection import Conn
from queuectl.store.postgres.pool import PgPool

__all__ = ["oldest_runnable", "queue_settings", "set_cap", "set_paused"]


async def _change(pool: PgPool, q: sql.Render, statement: str, *args: object) -> None:
    """One setting change and the removal of rows back at their defaults, together."""

    async def op(conn: Conn, retrying: bool) -> None:
        async with conn.transaction():
            await conn.execute(q(statement), *args)
            await conn.execute(q(sql.PRUNE_QUEUE_SETTINGS))

    await pool.run(op)


async def set_paused(pool: PgPool, q: sql.Render, names: Sequence[str], paused: bool) -> None:
    await _change(pool, q, sql.SET_PAUSED, sorted(set(names)), paused)


async def set_cap(pool: PgPool, q: sql.Render, name: str, cap: int | None) -> None:
    await _change(pool, q, sql.SET_CAP, name, cap)


async def queue_settings(pool: PgPool, q: sql.Render) -> dict[str, QueueSetting]:
    rows = await pool.fetch(q(sql.QUEUE_SETTINGS))
    return {r["name"]: QueueSetting(r["paused"], r["cap"]) for r in rows}


async def oldest_runnable(pool: PgPool, q: sql.Render, queues: Sequence[str]) -> dict[str, float]:
    rows = await pool.fetch(q(sql.OLDEST_RUNNABLE), list(queues))
    return {r["name"]: float(r["oldest"]) for r in rows if r["oldest"] is not None}
