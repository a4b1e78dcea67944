"""What the PostgreSQL store does besides jobs: pool, clock, runner registry, wake-ups.

``PostgresStore`` (postgres.py) builds on this class; see that module for how time,
faults and the pool work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from queuectl.domain.models import RunnerInfo, from_epoch
from queuectl.store.base import Heartbeat, Subscription, WakeKind
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres import statements_runners as rsql
from queuectl.store.postgres.connection import Conn, quote_ident
from queuectl.store.postgres.listener import PgListener
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import runner_from_row

__all__ = ["PgCore"]

Record = asyncpg.Record


class PgCore:
    """A pool on one PostgreSQL schema, its clock, and the runners' side of the store."""

    def __init__(self, pool: PgPool, clock: Callable[[], float] | None) -> None:
        self._pool = pool
        self.target = pool.target
        self._schema = quote_ident(self.target.schema)
        self._clock = clock
        self._offset = 0.0
        self._listeners: set[PgListener] = set()

    async def _sync_clock(self, conn: Conn, retrying: bool = False) -> None:
        before = time.time()
        server = await conn.fetchval(rsql.SERVER_TIME)
        self._note_server_time(server, before)

    def _note_server_time(self, server: float, before: float) -> None:
        self._offset = server - (before + time.time()) / 2

    def now(self) -> float:
        return self._clock() if self._clock is not None else time.time() + self._offset

    def _at(self) -> datetime | None:
        """The ``$1`` of timed statements: None means the server's own clock."""
        return None if self._clock is None else from_epoch(self._clock())

    def _q(self, statement: str) -> str:
        return sql.render(statement, self._schema)

    async def close(self) -> None:
        for listener in list(self._listeners):
            await listener.close()
        self._listeners.clear()
        await self._pool.close()

    async def _fetch(self, statement: str, *args: object) -> list[Record]:
        return await self._pool.fetch(self._q(statement), *args)

    # -- runners ------------------------------------------------------------
    async def register_runner(self, runner: RunnerInfo) -> None:
        await self._fetch(
            rsql.REGISTER,
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

    async def unregister_runner(self, runner_id: str) -> None:
        await self._fetch(rsql.UNREGISTER, runner_id)

    async def list_runners(self) -> list[RunnerInfo]:
        return [runner_from_row(row) for row in await self._fetch(rsql.LIST_RUNNERS)]

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        async def op(conn: Conn, retrying: bool) -> Record | None:
            before = time.time()
            row = await conn.fetchrow(self._q(rsql.HEARTBEAT), self._at(), runner_id, lease_seconds)
            if row is not None:
                self._note_server_time(row["server_time"], before)
            return row

        row = await self._pool.run(op)
        assert row is not None  # the statement always returns one row
        stop = row["stop_requested"]
        return Heartbeat(
            held=frozenset(row["held"]),
            stop_requested=0 if stop is None else int(stop),
            registered=stop is not None,
            cancel=frozenset(row["cancel"]),
        )

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        async def op(conn: Conn, retrying: bool) -> None:
            async with conn.transaction():
                await conn.execute(self._q(rsql.REQUEST_STOP), 2 if hard else 1, list(runner_ids))
                await conn.execute(rsql.NOTIFY, self.target.channel, "control")

        await self._pool.run(op)

    # -- wake-ups -----------------------------------------------------------
    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        listener = PgListener(self.target, on_wake, on_close=self._listeners.discard)
        await listener.start(retry_for=self._pool.retry_for)
        self._listeners.add(listener)
        return listener

    async def maintain(self) -> None:
        return  # the server vacuums and checkpoints on its own

    async def notify(self, kind: WakeKind = "jobs") -> None:
        await self._fetch(rsql.NOTIFY, self.target.channel, kind)
