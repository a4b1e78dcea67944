"""An in-memory store honouring the Store contract: for unit tests and embedders' tests.

Everything lives in one process; wake-ups reach the subscribers of this store object.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence

from queuectl.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.models import RUNNABLE_STATES, Job, JobState, RunnerInfo, from_epoch
from queuectl.store.base import Finish, Heartbeat, NewJob, Subscription, WakeKind

__all__ = ["MemoryStore"]


class _MemorySubscription:
    def __init__(self, store: MemoryStore, on_wake: Callable[[WakeKind], None]) -> None:
        self._store = store
        self.on_wake = on_wake

    @property
    def address(self) -> str | None:
        return None

    async def close(self) -> None:
        self._store._subscribers.discard(self)


class MemoryStore:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._seq: dict[str, int] = {}
        self._counter = itertools.count(1)
        self._runners: dict[str, RunnerInfo] = {}
        self._subscribers: set[_MemorySubscription] = set()

    def now(self) -> float:
        return self._clock()

    async def close(self) -> None:
        self._subscribers.clear()

    def _update(self, job: Job, **changes: object) -> Job:
        changes.setdefault("updated_at", from_epoch(self.now()))
        new = dataclasses.replace(job, **changes)  # type: ignore[arg-type]
        self._jobs[job.id] = new
        return new

    async def enqueue(self, jobs: Sequence[NewJob]) -> None:
        seen: set[str] = set()
        for job in jobs:
            if job.id in self._jobs:
                raise DuplicateJob(job.id)
            if job.id in seen:
                # The SQLite store refuses a repeat through its UNIQUE index: match it.
                raise DuplicateJob(job.id, "it appears twice in this batch")
            seen.add(job.id)
        now = from_epoch(self.now())
        for job in jobs:
            self._seq[job.id] = next(self._counter)
            self._jobs[job.id] = Job(
                id=job.id,
                command=job.command,
                state=JobState.PENDING,
                attempts=0,
                max_retries=job.max_retries,
                run_at=from_epoch(self.now() + job.delay),
                created_at=now,
                updated_at=now,
                priority=job.priority,
                queue=job.queue,
                timeout=job.timeout,
            )
        await self.notify("jobs")

    async def get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    async def list_jobs(
        self, *, state: JobState | None = None, limit: int | None = None
    ) -> AsyncIterator[Job]:
        ordered = sorted(self._jobs.values(), key=lambda j: self._seq[j.id])
        selected = [j for j in ordered if state is None or j.state == state]
        for job in selected[:limit]:
            yield job

    async def count_jobs(self) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        for job in self._jobs.values():
            counts[job.state] += 1
        return counts

    async def next_run_at(self, *, states: frozenset[JobState]) -> float | None:
        times = [j.run_at.timestamp() for j in self._jobs.values() if j.state in states]
        return min(times, default=None)

    async def claim(self, runner_id: str, limit: int, lease_seconds: float) -> list[Job]:
        now = self.now()
        ready = [
            j
            for j in self._jobs.values()
            if j.state in RUNNABLE_STATES and j.run_at.timestamp() <= now
        ]
        ready.sort(key=lambda j: (-j.priority, j.run_at, self._seq[j.id]))
        return [
            self._update(
                job,
                state=JobState.PROCESSING,
                attempts=job.attempts + 1,
                token=job.token + 1,
                runner_id=runner_id,
                lease_until=from_epoch(now + lease_seconds),
                started_at=from_epoch(now),
            )
            for job in ready[:limit]
        ]

    async def finish(self, finishes: Sequence[Finish]) -> set[str]:
        done = set()
        now = self.now()
        for f in finishes:
            job = self._jobs.get(f.job_id)
            if job is None or job.token != f.token or job.state != JobState.PROCESSING:
                continue
            self._update(
                job,
                state=f.state,
                run_at=from_epoch(now + f.delay),
                attempts=job.attempts - (0 if f.counted else 1),
                exit_code=f.exit_code,
                last_error=f.last_error,
                finished_at=from_epoch(now),
                runner_id=None,
                lease_until=None,
            )
            done.add(f.job_id)
        await self.notify("jobs")
        return done

    async def retry_dead(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job.state != JobState.DEAD:
            raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
        job = self._update(job, state=JobState.PENDING, attempts=0, run_at=from_epoch(self.now()))
        await self.notify("jobs")
        return job

    async def expired_claims(self) -> list[Job]:
        now = self.now()
        return [
            j
            for j in self._jobs.values()
            if j.state == JobState.PROCESSING
            and j.lease_until is not None
            and j.lease_until.timestamp() < now
        ]

    async def claims_of(self, runner_id: str) -> list[Job]:
        return [
            j
            for j in self._jobs.values()
            if j.state == JobState.PROCESSING and j.runner_id == runner_id
        ]

    async def register_runner(self, runner: RunnerInfo) -> None:
        self._runners[runner.id] = runner

    async def unregister_runner(self, runner_id: str) -> None:
        self._runners.pop(runner_id, None)

    async def list_runners(self) -> list[RunnerInfo]:
        return sorted(self._runners.values(), key=lambda r: r.started_at)

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        now = self.now()
        runner = self._runners.get(runner_id)
        if runner is not None:
            self._runners[runner_id] = dataclasses.replace(runner, heartbeat_at=from_epoch(now))
        held = set()
        for job in await self.claims_of(runner_id):
            self._update(job, lease_until=from_epoch(now + lease_seconds))
            held.add(job.id)
        return Heartbeat(
            held=frozenset(held),
            stop_requested=runner.stop_requested if runner else 0,
            registered=runner is not None,
        )

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        for runner_id in runner_ids:
            if runner_id in self._runners:
                runner = self._runners[runner_id]
                level = max(runner.stop_requested, 2 if hard else 1)
                self._runners[runner_id] = dataclasses.replace(runner, stop_requested=level)
        await self.notify("control")

    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        subscription = _MemorySubscription(self, on_wake)
        self._subscribers.add(subscription)
        return subscription

    async def notify(self, kind: WakeKind = "jobs") -> None:
        loop = asyncio.get_running_loop()
        for subscription in list(self._subscribers):
            loop.call_soon(subscription.on_wake, kind)
