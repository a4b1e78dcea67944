"""The PostgreSQL store (asyncpg): many runners on many hosts share one queue.

Time: run_at, leases and heartbeats are stamped and compared by the database server
(``now()``), so hosts whose clocks disagree still agree on them. ``now()`` here is the
local clock corrected by the offset to the server's clock, measured on open and at every
heartbeat; it is used only for display and for the runner's idle timer. A ``clock``
injected at open (tests) replaces the server's clock in every statement.

Faults: every operation runs through ``PgPool.run``, tried again with backoff when the
connection drops or the server restarts (for up to ``retry_for`` seconds, then
StoreError). A retry must not apply twice: claim, finish (one statement, see
``postgres_exchange.py``), cancel and ``retry_dead`` stamp the rows they change with a
random operation id, and a retry first looks for its own stamp (the reply of a
committed statement can be lost with its connection). Enqueue retries check that the
jobs exist exactly as asked; output writes apply only when they bring more bytes.

Pool: at most ``pool_size`` connections (URL parameter, default 4). A runner needs about
that many whatever its concurrency, because claims and finishes are batched: one round
trip of outcomes and claims, one output flush, one heartbeat and one recovery pass at a
time (a retention pass, when configured, waits for a free connection).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Sequence

import asyncpg

from queuectl.domain.errors import InvalidState, JobNotFound
from queuectl.domain.models import FINISHED_STATES, Job, JobState
from queuectl.store.base import ExchangeParts, Finish, NewJob, OutputWrite, requeued
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres import statements_runners as rsql
from queuectl.store.postgres.connection import Conn, parse_url
from queuectl.store.postgres.enqueue import insert_jobs
from queuectl.store.postgres.exchange import exchange_op
from queuectl.store.postgres.inspect import PgInspect
from queuectl.store.postgres.migrate import migrate
from queuectl.store.postgres.pool import PgPool
from queuectl.store.postgres.rows import job_from_row as _job

__all__ = ["PostgresStore"]

Record = asyncpg.Record
_PAGE = 500


def _completed(finishes: Sequence[Finish]) -> bool:
    """Whether a job completed: jobs waiting for it may be runnable now."""
    return any(f.state == JobState.COMPLETED for f in finishes)


def _op_id() -> int:
    return secrets.randbits(63)


class PostgresStore(ExchangeParts, PgInspect):
    """A Store on one PostgreSQL schema. Open it with ``PostgresStore.open(url)``."""

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

    # -- jobs ---------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob]) -> None:
        if not jobs:
            return

        async def op(conn: Conn, retrying: bool) -> None:
            await insert_jobs(
                conn, self._q, self._at(), jobs, self.target.channel, retrying=retrying
            )

        await self._pool.run(op)

    async def get(self, job_id: str) -> Job:
        rows = await self._fetch(sql.GET, job_id)
        if not rows:
            raise JobNotFound(job_id)
        return _job(rows[0])

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Job]:
        query = sql.list_page_sql(state=state is not None, queue=queue is not None)
        filters = [v for v in (state, queue) if v is not None]
        after, left = 0, limit
        while left is None or left > 0:
            page = _PAGE if left is None else min(_PAGE, left)
            rows = await self._fetch(query, after, page, *filters)
            for row in rows:
                yield _job(row)
            if len(rows) < page:
                return
            after = rows[-1]["seq"]
            if left is not None:
                left -= len(rows)

    async def count_jobs(self) -> dict[str, dict[JobState, int]]:
        counts: dict[str, dict[JobState, int]] = {}
        for row in await self._fetch(sql.COUNT):
            counts.setdefault(row["queue"], dict.fromkeys(JobState, 0))[JobState(row["state"])] = (
                row["count"]
            )
        return counts

    async def next_run_at(
        self, *, states: frozenset[JobState], queues: Sequence[str] | None = None
    ) -> float | None:
        if not states:
            return None
        names = list(dict.fromkeys(queues or ()))
        query = sql.next_run_at_sql(sorted(JobState(s).value for s in states), queues=bool(names))
        rows = await self._fetch(query, *([names] if names else []))
        value = rows[0][0]
        return None if value is None else float(value)

    async def exchange(
        self,
        finishes: Sequence[Finish],
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
        *,
        outputs: Sequence[OutputWrite] = (),
    ) -> tuple[set[str], list[Job]]:
        if not finishes and limit <= 0 and not outputs:
            return set(), []
        op = exchange_op(
            self._q,
            self._at,
            self.target.channel,
            finishes,
            runner_id,
            max(limit, 0),
            lease_seconds,
            queues,
            outputs,
        )
        done, taken, woke = await self._pool.run(op)
        rest = limit - len(taken)
        if rest > 0 and woke and (requeued(finishes, at_once=True) or _completed(finishes)):
            # One statement sees one snapshot: claim the jobs it made runnable now.
            taken += (await self.exchange((), runner_id, rest, lease_seconds, queues))[1]
        return done, taken

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
                    await conn.execute(rsql.NOTIFY, self.target.channel, "jobs")
            return row

        row = await self._pool.run(op)
        if row is None:
            job = await self.get(job_id)
            raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
        return _job(row)

    async def purge(
        self,
        *,
        states: frozenset[JobState],
        older_than: float | None = None,
        queue: str | None = None,
        limit: int = 500,
    ) -> int:
        chosen = sorted(s.value for s in states & FINISHED_STATES)
        if not chosen or limit <= 0:
            return 0
        rows = await self._fetch(sql.PURGE, self._at(), chosen, older_than, queue, limit)
        return int(rows[0][0])

    async def expired_claims(self) -> list[Job]:
        return [_job(row) for row in await self._fetch(sql.EXPIRED, self._at())]

    async def claims_of(self, runner_id: str) -> list[Job]:
        return [_job(row) for row in await self._fetch(sql.CLAIMS_OF, runner_id)]
