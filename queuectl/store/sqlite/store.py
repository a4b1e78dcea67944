"""The SQLite store (aiosqlite): the embedded default, one machine, zero set-up.

The hot paths are single statements: a claim is one ``UPDATE … RETURNING`` over a
partial index, a batch of outcomes one ``UPDATE … FROM json_each``; triggers keep the
dependency counts and the attempt history in step inside those statements.

``SQLiteStore`` holds its connection and its clock and sends the wake-ups; what each
operation does in the database is in the modules beside it (enqueue, exchange, jobs,
history, runners), all of them running their SQL from ``statements.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Self

from queuectl.domain.histograms import Histogram
from queuectl.domain.models import Attempt, Job, JobOutput, JobState, RunnerInfo
from queuectl.domain.schedule import Fire, FireResult, Schedule
from queuectl.host.wakeup import WakeListener, send_wakes
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
    requeued,
    runnable_at_once,
)
from queuectl.store.sqlite import browse, history, jobs, metrics, minutes, runners, schedules
from queuectl.store.sqlite import queues as queue_table
from queuectl.store.sqlite.connection import SQLiteConnection
from queuectl.store.sqlite.enqueue import insert_chunks, insert_jobs
from queuectl.store.sqlite.exchange import exchange_once

__all__ = ["SQLiteStore"]


class SQLiteStore(Store):
    """A Store on one SQLite file, in WAL mode."""

    def __init__(self, db: SQLiteConnection, clock: Callable[[], float]) -> None:
        self.db = db
        self._clock = clock

    @classmethod
    async def open(
        cls, path: Path, *, clock: Callable[[], float] = time.time, read_only: bool = False
    ) -> Self:
        """Open (creating and migrating it if need be) the database file at ``path``.

        ``read_only``: for reading only, where the file is there and current (see
        ``SQLiteConnection.open``).
        """
        return cls(await SQLiteConnection.open(path, read_only=read_only), clock)

    @property
    def path(self) -> Path:
        return self.db.path

    def now(self) -> float:
        return self._clock()

    async def close(self) -> None:
        await self.db.close()

    # -- jobs ---------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob]) -> LeftOut:
        skipped = await insert_jobs(self.db, self.now(), jobs)
        if len(skipped) < len(jobs):
            await self.notify("jobs")
        return skipped

    async def enqueue_chunks(
        self,
        chunks: Iterable[Sequence[NewJob]],
        on_left_out: Callable[[LeftOut], None] | None = None,
    ) -> int:
        count = await insert_chunks(self.db, self.now(), chunks, on_left_out)
        if count:
            await self.notify("jobs")
        return count

    async def get(self, job_id: str) -> Job:
        return await jobs.get(self.db, job_id)

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> AsyncIterator[Job]:
        return jobs.list_jobs(self.db, state, queue, limit, newest=newest)

    async def count_jobs(self) -> dict[str, dict[JobState, int]]:
        return await jobs.count_jobs(self.db)

    async def finished_totals(self) -> dict[tuple[str, str], int]:
        return await jobs.finished_totals(self.db)

    async def histograms(self) -> dict[tuple[str, str], Histogram]:
        return await metrics.histograms(self.db)

    async def record_observations(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        await metrics.record_observations(self.db, counts)

    async def next_run_at(
        self, *, states: frozenset[JobState], queues: Sequence[str] | None = None
    ) -> float | None:
        return await jobs.next_run_at(self.db, states, queues)

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
        done, taken, unblocked = await exchange_once(
            self.db, self.now(), finishes, runner_id, limit, lease_seconds, queues, outputs
        )
        if unblocked or requeued(finishes):
            await self.notify("jobs")
        rest = limit - len(taken)
        if rest > 0 and runnable_at_once(finishes, unblocked=unblocked):
            taken += (await self.exchange((), runner_id, rest, lease_seconds, queues))[1]
        return done, taken

    async def retry_dead(self, job_id: str) -> Job:
        job = await jobs.retry_dead(self.db, self.now(), job_id)
        await self.notify("jobs")
        return job

    async def requeue(self, job_ids: Sequence[str]) -> dict[str, RequeueResult]:
        results = await jobs.requeue(self.db, self.now(), job_ids)
        if "requeued" in results.values():
            await self.notify("jobs")
        return results

    async def remove(self, job_ids: Sequence[str]) -> dict[str, RemoveResult]:
        return await jobs.remove(self.db, job_ids)

    async def purge(
        self,
        *,
        states: frozenset[JobState],
        older_than: float | None = None,
        queue: str | None = None,
        limit: int = 500,
    ) -> int:
        return await jobs.purge(self.db, self.now(), states, older_than, queue, limit)

    async def cancel(self, job_ids: Sequence[str]) -> dict[str, CancelResult]:
        results = await jobs.cancel(self.db, self.now(), job_ids)
        if "requested" in results.values():
            await self.notify("control")
        return results

    # -- queue settings -------------------------------------------------------
    async def set_paused(self, names: Sequence[str], paused: bool) -> None:
        await queue_table.set_paused(self.db, names, paused)
        if not paused:
            await self.notify("jobs")

    async def set_cap(self, name: str, cap: int | None) -> None:
        await queue_table.set_cap(self.db, name, cap)
        await self.notify("jobs")

    async def queue_settings(self) -> dict[str, QueueSetting]:
        return await queue_table.queue_settings(self.db)

    async def ids_from(self, prefix: str, limit: int) -> list[str]:
        return await queue_table.ids_from(self.db, prefix, limit)

    async def oldest_runnable(self, queues: Sequence[str]) -> dict[str, float]:
        return await queue_table.oldest_runnable(self.db, queues)

    # -- output and history ---------------------------------------------------
    async def write_output(self, writes: Sequence[OutputWrite]) -> None:
        await history.write_output(self.db, writes)

    async def read_output(self, job_id: str, token: int) -> dict[int, JobOutput]:
        return await history.read_output(self.db, job_id, token)

    async def attempts(self, job_id: str) -> list[Attempt]:
        return await history.attempts(self.db, job_id)

    async def outcomes_by_minute(self, since: int) -> dict[tuple[int, str], int]:
        return await minutes.outcomes_by_minute(self.db, since)

    async def browse_jobs(self, page: JobPage) -> FoundJobs:
        return await browse.browse_jobs(self.db, page)

    async def finished_since(self, seconds: float) -> int:
        return await history.finished_since(self.db, self.now(), seconds)

    async def expired_claims(self) -> list[Job]:
        return await jobs.expired_claims(self.db, self.now())

    async def claims_of(self, runner_id: str) -> list[Job]:
        return await jobs.claims_of(self.db, runner_id)

    # -- runners ------------------------------------------------------------
    async def register_runner(self, runner: RunnerInfo) -> None:
        await runners.register(self.db, runner)

    async def unregister_runner(self, runner_id: str) -> None:
        await runners.unregister(self.db, runner_id)

    async def list_runners(self) -> list[RunnerInfo]:
        return await runners.list_runners(self.db)

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        self.db.check_identity()
        return await runners.heartbeat(self.db, self.now(), runner_id, lease_seconds)

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        await runners.request_stop(self.db, runner_ids, hard=hard)
        await self.notify("control")

    # -- schedules ----------------------------------------------------------
    async def save_schedule(self, schedule: NewSchedule, *, replace: bool = False) -> None:
        await schedules.save(self.db, self.now(), schedule, replace)
        await self.notify("schedules")

    async def get_schedule(self, name: str) -> Schedule:
        return await schedules.get(self.db, name)

    async def list_schedules(self) -> list[Schedule]:
        return await schedules.list_all(self.db)

    async def remove_schedule(self, name: str) -> None:
        await schedules.remove(self.db, name)
        await self.notify("schedules")

    async def pause_schedule(self, name: str, paused: bool) -> None:
        await schedules.pause(self.db, self.now(), name, paused)
        await self.notify("schedules")

    async def fire_schedule(
        self, name: str, at: float, job: NewJob, *, missed: int = 0
    ) -> FireResult:
        result = await schedules.fire(self.db, self.now(), name, at, job, missed)
        if result == "fired":
            await self.notify("jobs")
        return result

    async def run_schedule(self, name: str, job: NewJob) -> None:
        await schedules.run(self.db, self.now(), name, job)
        await self.notify("jobs")

    async def pass_over(self, name: str, upto: float, missed: int) -> None:
        await schedules.pass_over(self.db, name, upto, missed)

    async def schedule_fires(self, name: str, limit: int = 20) -> list[Fire]:
        return await schedules.fires(self.db, name, limit)

    # -- wake-ups -----------------------------------------------------------
    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        return WakeListener(on_wake)

    async def notify(self, kind: WakeKind = "jobs") -> None:
        send_wakes(await runners.wake_addresses(self.db), kind)

    # -- upkeep -------------------------------------------------------------
    async def maintain(self) -> None:
        from queuectl.store.pruning import prune_minutes_loop
        from queuectl.store.sqlite.checkpoints import checkpoint_loop

        async def prune(before: str) -> None:
            await minutes.prune(self.db, before)

        # A task group, not gather: cancelled, it returns only once both loops have
        # finished (the checkpoint connection closed), not at the first one's end.
        async with asyncio.TaskGroup() as group:
            group.create_task(checkpoint_loop(self.db))
            group.create_task(prune_minutes_loop(prune, self.now))
