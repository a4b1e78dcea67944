"""The PostgreSQL store (asyncpg): many runners on many hosts share one queue.

Time: run_at, leases and heartbeats are stamped and compared by the database server
(``now()``), so hosts whose clocks disagree still agree on them. ``now()`` here is the
local clock corrected by the offset to the server's clock, measured on open and at every
heartbeat; it is used only for display and for the runner's idle timer. A ``clock``
injected at open (tests) replaces the server's clock in every statement.

Faults: every operation runs through ``PgPool.run``, tried again with backoff when the
connection drops or the server restarts (for up to ``retry_for`` seconds, then
StoreError). A retry must not apply twice: claim, finish and ``retry_dead`` stamp the rows
they change with a random operation id, and a retry first looks for its own stamp (the
reply of a committed statement can be lost with its connection). Enqueue retries check
that the jobs exist exactly as asked.

Pool: at most ``pool_size`` connections (URL parameter, default 4). A runner needs that
many whatever its concurrency, because claims and finishes are batched: one claim, one
finish batch, one heartbeat and one recovery pass at a time.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

import asyncpg

from queuectl.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.models import Job, JobState, RunnerInfo, from_epoch
from queuectl.store import postgres_sql as sql
from queuectl.store.base import Finish, Heartbeat, NewJob, Subscription, WakeKind
from queuectl.store.postgres_conn import Conn, parse_url, quote_ident
from queuectl.store.postgres_listen import PgListener
from queuectl.store.postgres_migrate import migrate
from queuectl.store.postgres_pool import PgPool
from queuectl.store.postgres_rows import job_from_row as _job
from queuectl.store.postgres_rows import runner_from_row, sorted_claims

__all__ = ["PostgresStore"]

Record = asyncpg.Record
_PAGE = 500


def _op_id() -> int:
    return secrets.randbits(63)


class PostgresStore:
    """A Store on one PostgreSQL schema. Open it with ``PostgresStore.open(url)``."""

    def __init__(self, pool: PgPool, clock: Callable[[], float] | None) -> None:
        self._pool = pool
        self.target = pool.target
        self._schema = quote_ident(self.target.schema)
        self._clock = clock
        self._offset = 0.0
        self._listeners: set[PgListener] = set()

    @classmethod
    async def open(
        cls, url: str, *, clock: Callable[[], float] | None = None, retry_for: float = 30.0
    ) -> PostgresStore:
        """Connect, create or migrate the schema, and measure the server's clock."""
        target = parse_url(url)
        store = cls(await PgPool.connect(target, retry_for=retry_for), clock)
        try:
            await store._pool.run(lambda conn, _: migrate(conn, target))
            await store._pool.run(store._sync_clock)
        except BaseException:
            await store.close()
            raise
        return store

    async def _sync_clock(self, conn: Conn, retrying: bool = False) -> None:
        before = time.time()
        server = await conn.fetchval(sql.SERVER_TIME)
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

    # -- jobs ---------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob]) -> None:
        if not jobs:
            return
        ids = [j.id for j in jobs]
        repeated = [job_id for job_id, n in Counter(ids).items() if n > 1]
        if repeated:
            raise DuplicateJob(repeated[0], "it appears twice in this batch")
        columns = (
            ids,
            [j.command for j in jobs],
            [j.max_retries for j in jobs],
            [j.priority for j in jobs],
            [j.queue for j in jobs],
            [j.timeout for j in jobs],
        )
        delays = [j.delay for j in jobs]

        async def op(conn: Conn, retrying: bool) -> None:
            try:
                await conn.fetchrow(
                    self._q(sql.ENQUEUE), self._at(), *columns, delays, self.target.channel
                )
            except asyncpg.UniqueViolationError:
                if retrying:
                    present = await conn.fetchval(self._q(sql.ENQUEUED_ALREADY), *columns)
                    if present == len(ids):
                        return  # the first try committed; its reply was lost
                existing = await conn.fetchval(self._q(sql.EXISTING_ID), ids)
                if existing is None:
                    raise DuplicateJob(ids[0], "the store refused it as a duplicate") from None
                raise DuplicateJob(existing) from None

        await self._pool.run(op)

    async def get(self, job_id: str) -> Job:
        rows = await self._fetch(sql.GET, job_id)
        if not rows:
            raise JobNotFound(job_id)
        return _job(rows[0])

    async def list_jobs(
        self, *, state: JobState | None = None, limit: int | None = None
    ) -> AsyncIterator[Job]:
        after, left = 0, limit
        while left is None or left > 0:
            page = _PAGE if left is None else min(_PAGE, left)
            if state is None:
                rows = await self._fetch(sql.LIST_PAGE, after, page)
            else:
                rows = await self._fetch(sql.LIST_PAGE_STATE, after, page, state.value)
            for row in rows:
                yield _job(row)
            if len(rows) < page:
                return
            after = rows[-1]["seq"]
            if left is not None:
                left -= len(rows)

    async def count_jobs(self) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        counts.update({JobState(r["state"]): r["count"] for r in await self._fetch(sql.COUNT)})
        return counts

    async def next_run_at(self, *, states: frozenset[JobState]) -> float | None:
        if not states:
            return None
        mins = ", ".join(sql.NEXT_RUN_AT % JobState(s).value for s in sorted(states))
        rows = await self._fetch(f"SELECT extract(epoch FROM least({mins}))::float8")
        value = rows[0][0]
        return None if value is None else float(value)

    async def claim(self, runner_id: str, limit: int, lease_seconds: float) -> list[Job]:
        op_id = _op_id()

        async def op(conn: Conn, retrying: bool) -> list[Job]:
            if retrying:
                rows = await conn.fetch(self._q(sql.CLAIMED_BY_OP), runner_id, op_id)
                if rows:
                    return sorted_claims(rows)
            rows = await conn.fetch(
                self._q(sql.CLAIM), self._at(), runner_id, lease_seconds, limit, op_id
            )
            return sorted_claims(rows)

        return await self._pool.run(op)

    async def finish(self, finishes: Sequence[Finish]) -> set[str]:
        if not finishes:
            return set()
        op_id = _op_id()
        ids = [f.job_id for f in finishes]
        batch = (
            ids,
            [f.token for f in finishes],
            [f.state.value for f in finishes],
            [f.delay for f in finishes],
            [f.counted for f in finishes],
            [f.exit_code for f in finishes],
            [f.last_error for f in finishes],
        )

        async def op(conn: Conn, retrying: bool) -> set[str]:
            if retrying:
                rows = await conn.fetch(self._q(sql.FINISHED_BY_OP), ids, op_id)
                if rows:
                    return {r["id"] for r in rows}
            rows = await conn.fetch(
                self._q(sql.FINISH), self._at(), *batch, op_id, self.target.channel
            )
            return {r["id"] for r in rows if r["id"] is not None}

        return await self._pool.run(op)

    async def retry_dead(self, job_id: str) -> Job:
        op_id = _op_id()

        async def op(conn: Conn, retrying: bool) -> Record | None:
            if retrying:
                row = await conn.fetchrow(self._q(sql.RETRIED_BY_OP), job_id, op_id)
                if row is not None:
                    return row
            async with conn.transaction():
                row = await conn.fetchrow(self._q(sql.RETRY_DEAD), self._at(), job_id, op_id)
                if row is not None:
                    await conn.execute(sql.NOTIFY, self.target.channel, "jobs")
            return row

        row = await self._pool.run(op)
        if row is None:
            job = await self.get(job_id)
            raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
        return _job(row)

    async def expired_claims(self) -> list[Job]:
        return [_job(row) for row in await self._fetch(sql.EXPIRED, self._at())]

    async def claims_of(self, runner_id: str) -> list[Job]:
        return [_job(row) for row in await self._fetch(sql.CLAIMS_OF, runner_id)]

    # -- runners ------------------------------------------------------------
    async def register_runner(self, runner: RunnerInfo) -> None:
        await self._fetch(
            sql.REGISTER,
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
        await self._fetch(sql.UNREGISTER, runner_id)

    async def list_runners(self) -> list[RunnerInfo]:
        return [runner_from_row(row) for row in await self._fetch(sql.LIST_RUNNERS)]

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        async def op(conn: Conn, retrying: bool) -> Record | None:
            before = time.time()
            row = await conn.fetchrow(self._q(sql.HEARTBEAT), self._at(), runner_id, lease_seconds)
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
        )

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        async def op(conn: Conn, retrying: bool) -> None:
            async with conn.transaction():
                await conn.execute(self._q(sql.REQUEST_STOP), 2 if hard else 1, list(runner_ids))
                await conn.execute(sql.NOTIFY, self.target.channel, "control")

        await self._pool.run(op)

    # -- wake-ups -----------------------------------------------------------
    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        listener = PgListener(self.target, on_wake, on_close=self._listeners.discard)
        await listener.start(retry_for=self._pool.retry_for)
        self._listeners.add(listener)
        return listener

    async def notify(self, kind: WakeKind = "jobs") -> None:
        await self._fetch(sql.NOTIFY, self.target.channel, kind)
