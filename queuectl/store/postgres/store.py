"""The PostgreSQL store (asyncpg): many runners on many hosts share one queue.

Time: run_at, leases and heartbeats are stamped and compared by the database server;
see ``clock.py`` for the store's own ``now()`` and the clock a test may inject.

Faults: every operation runs through ``PgPool.run``, tried again with backoff when the
connection drops or the server restarts (for up to ``retry_for`` seconds, then
StoreError). A retry must not apply twice: claim, finish (one statement, see
``exchange.py``), cancel and ``retry_dead`` stamp the rows they change with a random
operation id, and a retry first looks for its own stamp (the reply of a committed
statement can be lost with its connection). Enqueue retries check that the jobs exist
exactly as asked; output writes apply only when they bring more bytes.

Pool: at most ``pool_size`` connections (URL parameter, default 4). A runner needs about
that many whatever its concurrency, because claims and finishes are batched: one round
trip of outcomes and claims, one output flush, one heartbeat and one recovery pass at a
time (a retention pass, when configured, waits for a free connection).

``PostgresStore`` holds the pool, the clock and the wake-up listeners. Each operation's
steps are functions of the modules beside it (enqueue, exchange, jobs, history,
runners), written so that ``PgPool.run`` may run them again; their SQL is in
``statements.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

from queuectl.domain.errors import StoreError
from queuectl.domain.histograms import Histogram
from queuectl.domain.models import Attempt, Job, JobOutput, JobState, RunnerInfo
from queuectl.domain.schedule import Fire, FireResult, Schedule
from queuectl.store.base import (
    CancelResult,
    Finish,
    FoundJobs,
    Heartbeat,
    JobPage,
    LeftOut,
    NewJob,
    NewSchedule,
    OutputWrite,
    QueueSetting,
    RemoveResult,
    RequeueResult,
    Store,
    Subscription,
    WakeKind,
    claim_by_exchange,
    finish_by_exchange,
    runnable_at_once,
)
from queuectl.store.postgres import browse, history, jobs, metrics, minutes, runners, schedules
from queuectl.store.postgres import queues as queue_table
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.clock import ServerClock
from queuectl.store.postgres.connection import Conn, parse_url, quote_ident
from queuectl.store.postgres.enqueue import insert_chunks, insert_jobs
from queuectl.store.postgres.exchange import exchange_op
from queuectl.store.postgres.listener import PgListener
from queuectl.store.postgres.migrate import migrate
from queuectl.store.postgres.pool import PgPool
from queuectl.store.pruning import prune_minutes_loop

__all__ = ["PostgresStore"]


def _completed(finishes: Sequence[Finish]) -> bool:
    """Whether a job completed: jobs waiting for it may be runnable now."""
    return any(f.state == JobState.COMPLETED for f in finishes)


class PostgresStore(Store):
    """A Store on one PostgreSQL schema. Open it with ``PostgresStore.open(url)``."""

    def __init__(self, pool: PgPool, clock: Callable[[], float] | None) -> None:
        self._pool = pool
        self.target = pool.target
        self._schema = quote_ident(self.target.schema)
        self._clock = ServerClock(clock)
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
            await store._pool.run(store._clock.sync)
        except BaseException:
            await store.close()
            raise
        return store

    def _q(self, statement: str) -> str:
        return sql.render(statement, self._schema)

    def now(self) -> float:
        return self._clock.now()

    async def close(self) -> None:
        for listener in list(self._listeners):
            await listener.close()
        self._listeners.clear()
        await self._pool.close()

    # -- jobs ---------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob]) -> LeftOut:
        if not jobs:
            return {}

        async def op(conn: Conn, retrying: bool) -> LeftOut:
            at = self._clock.at()
            return await insert_jobs(
                conn, self._q, at, jobs, self.target.channel, retrying=retrying
            )

        return await self._pool.run(op)

    async def enqueue_chunks(
        self,
        chunks: Iterable[Sequence[NewJob]],
        on_left_out: Callable[[LeftOut], None] | None = None,
    ) -> int:
        async def op(conn: Conn, retrying: bool) -> int:
            if retrying:  # the chunks taken cannot be taken again
                raise StoreError(
                    f"PostgreSQL at {self.target.display}: the connection was lost during a "
                    "bulk enqueue; its transaction was rolled back unless the loss came "
                    "during the commit, so look before enqueueing it again"
                )
            at = self._clock.at()
            return await insert_chunks(conn, self._q, at, chunks, self.target.channel, on_left_out)

        return await self._pool.run(op)

    async def get(self, job_id: str) -> Job:
        return await jobs.get(self._pool, self._q, job_id)

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> AsyncIterator[Job]:
        return jobs.list_jobs(self._pool, self._q, state, queue, limit, newest=newest)

    async def count_jobs(self) -> dict[str, dict[JobState, int]]:
        return await jobs.count_jobs(self._pool, self._q)

    async def finished_totals(self) -> dict[tuple[str, str], int]:
        return await jobs.finished_totals(self._pool, self._q)

    async def histograms(self) -> dict[tuple[str, str], Histogram]:
        return await metrics.histograms(self._pool, self._q)

    async def record_observations(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        await metrics.record_observations(self._pool, self._q, counts)

    async def next_run_at(
        self, *, states: frozenset[JobState], queues: Sequence[str] | None = None
    ) -> float | None:
        return await jobs.next_run_at(self._pool, self._q, states, queues)

    async def claim(
        self,
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
    ) -> list[Job]:
        return await claim_by_exchange(self, runner_id, limit, lease_seconds, queues)

    async def finish(self, finishes: Sequence[Finish]) -> set[str]:
        return await finish_by_exchange(self, finishes)

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
            self._clock.at,
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
        # ``woke``: some job became runnable again; only a completed one can have waiters.
        if rest > 0 and woke and runnable_at_once(finishes, unblocked=_completed(finishes)):
            taken += (await self.exchange((), runner_id, rest, lease_seconds, queues))[1]
        return done, taken

    async def retry_dead(self, job_id: str) -> Job:
        return await jobs.retry_dead(self._pool, self._q, self._clock.at, job_id)

    async def requeue(self, job_ids: Sequence[str]) -> dict[str, RequeueResult]:
        return await jobs.requeue(self._pool, self._q, self._clock.at, job_ids)

    async def remove(self, job_ids: Sequence[str]) -> dict[str, RemoveResult]:
        return await jobs.remove(self._pool, self._q, job_ids)

    async def purge(
        self,
        *,
        states: frozenset[JobState],
        older_than: float | None = None,
        queue: str | None = None,
        limit: int = 500,
    ) -> int:
        return await jobs.purge(
            self._pool, self._q, self._clock.at, states, older_than, queue, limit
        )

    async def cancel(self, job_ids: Sequence[str]) -> dict[str, CancelResult]:
        return await jobs.cancel(self._pool, self._q, self._clock.at, job_ids)

    # -- queue settings -------------------------------------------------------
    async def set_paused(self, names: Sequence[str], paused: bool) -> None:
        await queue_table.set_paused(self._pool, self._q, names, paused)
        if not paused:
            await self.notify("jobs")

    async def set_cap(self, name: str, cap: int | None) -> None:
        await queue_table.set_cap(self._pool, self._q, name, cap)
        await self.notify("jobs")

    async def queue_settings(self) -> dict[str, QueueSetting]:
        return await queue_table.queue_settings(self._pool, self._q)

    async def ids_from(self, prefix: str, limit: int) -> list[str]:
        return await queue_table.ids_from(self._pool, self._q, prefix, limit)

    async def oldest_runnable(self, queues: Sequence[str]) -> dict[str, float]:
        return await queue_table.oldest_runnable(self._pool, self._q, queues)

    # -- output and history ---------------------------------------------------
    async def write_output(self, writes: Sequence[OutputWrite]) -> None:
        await history.write_output(self._pool, self._q, writes)

    async def read_output(self, job_id: str, token: int) -> dict[int, JobOutput]:
        return await history.read_output(self._pool, self._q, job_id, token)

    async def attempts(self, job_id: str) -> list[Attempt]:
        return await history.attempts(self._pool, self._q, job_id)

    async def outcomes_by_minute(self, since: int) -> dict[tuple[int, str], int]:
        return await minutes.outcomes_by_minute(self._pool, self._q, since)

    async def browse_jobs(self, page: JobPage) -> FoundJobs:
        return await browse.browse_jobs(self._pool, self._q, page)

    async def finished_since(self, seconds: float) -> int:
        return await history.finished_since(self._pool, self._q, self._clock.at, seconds)

    async def expired_claims(self) -> list[Job]:
        return await jobs.expired_claims(self._pool, self._q, self._clock.at)

    async def claims_of(self, runner_id: str) -> list[Job]:
        return await jobs.claims_of(self._pool, self._q, runner_id)

    # -- runners ------------------------------------------------------------
    async def register_runner(self, runner: RunnerInfo) -> None:
        await runners.register(self._pool, self._q, runner)

    async def unregister_runner(self, runner_id: str) -> None:
        await runners.unregister(self._pool, self._q, runner_id)

    async def list_runners(self) -> list[RunnerInfo]:
        return await runners.list_runners(self._pool, self._q)

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        return await runners.heartbeat(self._pool, self._q, self._clock, runner_id, lease_seconds)

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        await runners.request_stop(self._pool, self._q, runner_ids, hard=hard)

    # -- schedules ----------------------------------------------------------
    async def save_schedule(self, schedule: NewSchedule, *, replace: bool = False) -> None:
        await schedules.save(self._pool, self._q, self._clock.at(), schedule, replace)
        await self.notify("schedules")

    async def get_schedule(self, name: str) -> Schedule:
        return await schedules.get(self._pool, self._q, name)

    async def list_schedules(self) -> list[Schedule]:
        return await schedules.list_all(self._pool, self._q)

    async def remove_schedule(self, name: str) -> None:
        await schedules.remove(self._pool, self._q, name)
        await self.notify("schedules")

    async def pause_schedule(self, name: str, paused: bool) -> None:
        await schedules.pause(self._pool, self._q, self._clock.at(), name, paused)
        await self.notify("schedules")

    async def fire_schedule(
        self, name: str, at: float, job: NewJob, *, missed: int = 0
    ) -> FireResult:
        channel = self.target.channel
        return await schedules.fire(
            self._pool, self._q, self._clock.at(), channel, name, at, job, missed
        )

    async def run_schedule(self, name: str, job: NewJob) -> None:
        channel = self.target.channel
        await schedules.run(self._pool, self._q, self._clock.at(), channel, name, job)

    async def pass_over(self, name: str, upto: float, missed: int) -> None:
        await schedules.pass_over(self._pool, self._q, name, upto, missed)

    async def schedule_fires(self, name: str, limit: int = 20) -> list[Fire]:
        return await schedules.fires(self._pool, self._q, name, limit)

    # -- wake-ups -----------------------------------------------------------
    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        listener = PgListener(self.target, on_wake, on_close=self._listeners.discard)
        await listener.start(retry_for=self._pool.retry_for)
        self._listeners.add(listener)
        return listener

    async def notify(self, kind: WakeKind = "jobs") -> None:
        await runners.notify(self._pool, kind)

    # -- upkeep -------------------------------------------------------------
    async def maintain(self) -> None:
        """Fold the tallies' deltas now and then and prune old minute tallies (the
        server vacuums and checkpoints on its own), until cancelled."""

        async def prune(before: str) -> None:
            await minutes.prune(self._pool, self._q, before)

        # A task group, not gather: cancelled, it returns only once both loops have ended.
        async with asyncio.TaskGroup() as group:
            group.create_task(jobs.fold_loop(self._pool, self._q))
            group.create_task(prune_minutes_loop(prune, self.now))
