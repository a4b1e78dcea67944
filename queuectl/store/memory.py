"""An in-memory store honouring the Store contract: for unit tests and embedders' tests.

Everything lives in one process; wake-ups reach the subscribers of this store object.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.domain.models import (
    FINISHED_STATES,
    RUNNABLE_STATES,
    Attempt,
    Job,
    JobState,
    from_epoch,
)
from queuectl.store.base import (
    CancelResult,
    Finish,
    Heartbeat,
    NewJob,
    OutputWrite,
)
from queuectl.store.memory_side import MemorySideTables

__all__ = ["MemoryStore"]


class MemoryStore(MemorySideTables):
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock=clock)
        self._jobs: dict[str, Job] = {}
        self._seq: dict[str, int] = {}
        self._counter = itertools.count(1)
        #: dependency id -> ids of the jobs waiting for it
        self._waiters: dict[str, set[str]] = {}

    def _update(self, job: Job, **changes: object) -> Job:
        changes.setdefault("updated_at", from_epoch(self.now()))
        new = job._replace(**changes)  # type: ignore[arg-type]
        self._jobs[job.id] = new
        return new

    async def enqueue(self, jobs: Sequence[NewJob]) -> None:
        known = set(self._jobs)
        for job in jobs:
            if job.id in known:
                raise DuplicateJob(job.id)
            for dep in job.after:
                if dep not in known:
                    raise JobNotFound(dep)
                if dep in self._jobs and self._jobs[dep].state in (
                    JobState.DEAD,
                    JobState.CANCELLED,
                ):
                    state = self._jobs[dep].state.value
                    raise InvalidState(f"job {dep!r} is {state}: a job after it would never run")
            known.add(job.id)
        now = self.now()
        for job in jobs:
            self._seq[job.id] = next(self._counter)
            blocked = 0
            for dep in dict.fromkeys(job.after):
                self._waiters.setdefault(dep, set()).add(job.id)
                blocked += self._jobs[dep].state != JobState.COMPLETED
            self._jobs[job.id] = Job(
                id=job.id,
                command=job.command,
                state=JobState.PENDING,
                attempts=0,
                max_retries=job.max_retries,
                run_at=from_epoch(now + job.delay if job.run_at is None else job.run_at),
                created_at=from_epoch(now),
                updated_at=from_epoch(now),
                priority=job.priority,
                queue=job.queue,
                timeout=job.timeout,
                after=job.after,
                blocked=blocked,
                backoff_base=job.backoff_base,
                backoff_max=job.backoff_max,
                backoff_jitter=job.backoff_jitter,
            )
        await self.notify("jobs")

    def _set_state(self, job: Job, state: JobState, **changes: object) -> None:
        """Change a job's state and resolve the jobs waiting for it (as SQL triggers do).

        Cancellation spreads breadth first, without recursion, so chains of any depth
        resolve and each waiter names its nearest dependency that ended.
        """
        new = self._update(job, state=state, **changes)
        if state == job.state:
            return
        if state == JobState.COMPLETED:
            for waiter in self._waiting_on(job.id):
                self._update(waiter, blocked=waiter.blocked - 1, updated_at=waiter.updated_at)
            return
        if state not in (JobState.DEAD, JobState.CANCELLED):
            return
        ended = collections.deque([new])
        while ended:
            dep = ended.popleft()
            for waiter in self._waiting_on(dep.id):
                if waiter.state in RUNNABLE_STATES:
                    reason = f"cancelled: it runs after job {dep.id}, which ended {dep.state.value}"
                    ended.append(
                        self._update(
                            waiter,
                            state=JobState.CANCELLED,
                            last_error=reason,
                            updated_at=new.updated_at,
                            finished_at=new.updated_at,
                        )
                    )

    def _waiting_on(self, job_id: str) -> list[Job]:
        return [self._jobs[w] for w in self._waiters.get(job_id, ()) if w in self._jobs]

    async def get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Job]:
        ordered = sorted(self._jobs.values(), key=lambda j: self._seq[j.id])
        selected = [
            j
            for j in ordered
            if (state is None or j.state == state) and (queue is None or j.queue == queue)
        ]
        for job in selected[:limit]:
            yield job

    async def count_jobs(self) -> dict[str, dict[JobState, int]]:
        counts: dict[str, dict[JobState, int]] = {}
        for job in self._jobs.values():
            counts.setdefault(job.queue, dict.fromkeys(JobState, 0))[job.state] += 1
        return counts

    def _runnable(self, job: Job, queues: Sequence[str] | None) -> bool:
        return (
            job.state in RUNNABLE_STATES
            and job.blocked == 0
            and (not queues or job.queue in queues)
        )

    async def next_run_at(
        self, *, states: frozenset[JobState], queues: Sequence[str] | None = None
    ) -> float | None:
        times = [
            j.run_at.timestamp()
            for j in self._jobs.values()
            if j.state in states and self._runnable(j, queues)
        ]
        return min(times, default=None)

    async def claim(
        self,
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
    ) -> list[Job]:
        now = self.now()
        ready = [
            j
            for j in self._jobs.values()
            if self._runnable(j, queues) and j.run_at.timestamp() <= now
        ]
        ready.sort(key=lambda j: (-j.priority, j.run_at, self._seq[j.id]))
        claimed = [
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
        runner = self._runners.get(runner_id)
        for job in claimed:
            assert job.started_at is not None
            self._attempts.setdefault(job.id, []).append(
                Attempt(
                    number=job.attempts,
                    token=job.token,
                    started_at=job.started_at,
                    runner_id=runner_id,
                    host=runner.host if runner else None,
                    pid=runner.pid if runner else None,
                )
            )
        return claimed

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
        await self.write_output(outputs)
        done = await self.finish(finishes) if finishes else set()
        return done, await self.claim(runner_id, limit, lease_seconds, queues)

    async def finish(self, finishes: Sequence[Finish]) -> set[str]:
        done = set()
        now = self.now()
        for f in finishes:
            job = self._jobs.get(f.job_id)
            if job is None or job.token != f.token or job.state != JobState.PROCESSING:
                continue
            self._set_state(
                job,
                f.state,
                run_at=from_epoch(now + f.delay) if f.state in RUNNABLE_STATES else job.run_at,
                attempts=job.attempts - (0 if f.counted else 1),
                exit_code=f.exit_code,
                last_error=f.last_error,
                finished_at=from_epoch(now),
                runner_id=None,
                lease_until=None,
                cancel_requested=False,
            )
            self._end_attempt(job, from_epoch(now), f.exit_code, f.signal, f.reason)
            done.add(f.job_id)
        await self.notify("jobs")
        return done

    async def cancel(self, job_ids: Sequence[str]) -> dict[str, CancelResult]:
        results: dict[str, CancelResult] = {}
        now = from_epoch(self.now())
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is None:
                results[job_id] = "missing"
            elif job.state in RUNNABLE_STATES:
                self._set_state(
                    job,
                    JobState.CANCELLED,
                    last_error="cancelled by request",
                    finished_at=now,
                    updated_at=now,
                )
                results[job_id] = "cancelled"
            elif job.state == JobState.PROCESSING:
                self._update(job, cancel_requested=True)
                results[job_id] = "requested"
            else:
                results[job_id] = "finished"
        if "requested" in results.values():
            await self.notify("control")
        return results

    async def attempts(self, job_id: str) -> list[Attempt]:
        await self.get(job_id)
        return list(self._attempts.get(job_id, []))

    async def finished_since(self, seconds: float) -> int:
        cutoff = self.now() - seconds
        return sum(
            1
            for j in self._jobs.values()
            if j.state in FINISHED_STATES
            and j.finished_at is not None
            and j.finished_at.timestamp() > cutoff
        )

    async def retry_dead(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job.state != JobState.DEAD:
            raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
        job = self._update(job, state=JobState.PENDING, attempts=0, run_at=from_epoch(self.now()))
        await self.notify("jobs")
        return job

    async def purge(
        self,
        *,
        states: frozenset[JobState],
        older_than: float | None = None,
        queue: str | None = None,
        limit: int = 500,
    ) -> int:
        cutoff = self.now() - (older_than or 0.0)
        doomed = [
            j.id
            for j in self._jobs.values()
            if j.state in states & FINISHED_STATES
            and (queue is None or j.queue == queue)
            and (
                older_than is None
                or (j.finished_at is not None and j.finished_at.timestamp() < cutoff)
            )
        ][:limit]
        for job_id in doomed:
            del self._jobs[job_id]
            self._waiters.pop(job_id, None)
            self._attempts.pop(job_id, None)
            for key in [k for k in self._output if k[0] == job_id]:
                del self._output[key]
        return len(doomed)

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

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        now = self.now()
        runner = self._runners.get(runner_id)
        if runner is not None:
            self._runners[runner_id] = runner._replace(heartbeat_at=from_epoch(now))
        held, cancel = set(), set()
        for job in await self.claims_of(runner_id):
            self._update(job, lease_until=from_epoch(now + lease_seconds))
            held.add(job.id)
            if job.cancel_requested:
                cancel.add(job.id)
        return Heartbeat(
            held=frozenset(held),
            stop_requested=runner.stop_requested if runner else 0,
            registered=runner is not None,
            cancel=frozenset(cancel),
        )
