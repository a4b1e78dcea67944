"""The memory store's job table: the jobs, their order, and who waits for whom.

Kept apart from the store so that the rules the SQL stores keep in triggers (dependency
counts, cancellation spreading to waiters) read in one place, as plain Python.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterator, Sequence

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.domain.models import FINISHED_STATES, RUNNABLE_STATES, Job, JobState, from_epoch
from queuectl.store.base import (
    OUTCOMES,
    CancelResult,
    Finish,
    NewJob,
    QueueSetting,
    RemoveResult,
    RequeueResult,
)

__all__ = ["JobTable"]


class JobTable:
    """Jobs by id, in enqueue order, with the links between waiters and dependencies."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._seq: dict[str, int] = {}
        self._counter = itertools.count(1)
        #: dependency id -> ids of the jobs waiting for it
        self._waiters: dict[str, set[str]] = {}
        #: (queue, outcome) -> outcomes ever recorded (``Store.finished_totals``)
        self.finished_totals: collections.Counter[tuple[str, str]] = collections.Counter()

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs.values())

    def find(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    def ordered(self) -> list[Job]:
        """Every job, oldest first."""
        return sorted(self._jobs.values(), key=lambda j: self._seq[j.id])

    def insert(self, jobs: Sequence[NewJob]) -> None:
        """Insert all of ``jobs`` or none (the checks come before any change)."""
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
        now = self._clock()
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

    def update(self, job: Job, **changes: object) -> Job:
        changes.setdefault("updated_at", from_epoch(self._clock()))
        new = job._replace(**changes)  # type: ignore[arg-type]
        self._jobs[job.id] = new
        if new.state != job.state and new.state.value in OUTCOMES:
            self.finished_totals[new.queue, new.state.value] += 1
        return new

    def set_state(self, job: Job, state: JobState, **changes: object) -> None:
        """Change a job's state and resolve the jobs waiting for it (as SQL triggers do).

        Cancellation spreads breadth first, without recursion, so chains of any depth
        resolve and each waiter names its nearest dependency that ended.
        """
        new = self.update(job, state=state, **changes)
        if state == job.state:
            return
        if job.state == JobState.COMPLETED:  # run again: its waiters wait for it again
            for waiter in self._waiting_on(job.id):
                self.update(waiter, blocked=waiter.blocked + 1, updated_at=waiter.updated_at)
        if state == JobState.COMPLETED:
            for waiter in self._waiting_on(job.id):
                self.update(waiter, blocked=waiter.blocked - 1, updated_at=waiter.updated_at)
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
                        self.update(
                            waiter,
                            state=JobState.CANCELLED,
                            last_error=reason,
                            updated_at=new.updated_at,
                            finished_at=new.updated_at,
                        )
                    )

    def _waiting_on(self, job_id: str) -> list[Job]:
        return [self._jobs[w] for w in self._waiters.get(job_id, ()) if w in self._jobs]

    @staticmethod
    def runnable(job: Job, queues: Sequence[str] | None) -> bool:
        """Pending or failed, no unfinished dependency, in one of ``queues`` (if any)."""
        return (
            job.state in RUNNABLE_STATES
            and job.blocked == 0
            and (not queues or job.queue in queues)
        )

    def claim(
        self,
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None,
        now: float,
        settings: dict[str, QueueSetting],
    ) -> list[Job]:
        """Take up to ``limit`` runnable jobs, highest priority then oldest first; none of
        a paused queue, and no more of a capped one than its cap leaves room for."""
        ready = [
            j
            for j in self._jobs.values()
            if self.runnable(j, queues)
            and j.run_at.timestamp() <= now
            and not settings.get(j.queue, QueueSetting()).paused
        ]
        ready.sort(key=lambda j: (-j.priority, j.run_at, self._seq[j.id]))
        room = {
            name: s.cap - sum(1 for j in self.processing() if j.queue == name)
            for name, s in settings.items()
            if s.cap is not None
        }
        chosen: list[Job] = []
        for job in ready:
            if len(chosen) == limit:
                break
            if job.queue in room:
                if room[job.queue] <= 0:
                    continue
                room[job.queue] -= 1
            chosen.append(job)
        return [
            self.update(
                job,
                state=JobState.PROCESSING,
                attempts=job.attempts + 1,
                token=job.token + 1,
                runner_id=runner_id,
                lease_until=from_epoch(now + lease_seconds),
                started_at=from_epoch(now),
            )
            for job in chosen
        ]

    def finish(self, f: Finish, now: float) -> Job | None:
        """Apply one outcome if its token still holds the job; the job as it was, or None."""
        job = self._jobs.get(f.job_id)
        if job is None or job.token != f.token or job.state != JobState.PROCESSING:
            return None
        self.set_state(
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
        return job

    def cancel(self, job_id: str, now: float) -> CancelResult:
        job = self._jobs.get(job_id)
        if job is None:
            return "missing"
        if job.state in RUNNABLE_STATES:
            at = from_epoch(now)
            self.set_state(
                job,
                JobState.CANCELLED,
                last_error="cancelled by request",
                finished_at=at,
                updated_at=at,
            )
            return "cancelled"
        if job.state == JobState.PROCESSING:
            self.update(job, cancel_requested=True)
            return "requested"
        return "finished"

    def purge(
        self,
        states: frozenset[JobState],
        older_than: float | None,
        queue: str | None,
        limit: int,
        now: float,
    ) -> list[str]:
        """Remove up to ``limit`` finished jobs as ``Store.purge`` says; their ids."""
        cutoff = now - (older_than or 0.0)
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
            self._delete(job_id)
        return doomed

    def requeue(self, job_id: str, now: float) -> RequeueResult:
        """One finished job back to pending, as ``Store.requeue`` says."""
        job = self._jobs.get(job_id)
        if job is None:
            return "missing"
        if job.state not in FINISHED_STATES:
            return "unfinished"
        deps = [self._jobs[d] for d in dict.fromkeys(job.after) if d in self._jobs]
        if any(d.state in (JobState.DEAD, JobState.CANCELLED) for d in deps):
            return "blocked"
        self.set_state(
            job,
            JobState.PENDING,
            attempts=0,
            run_at=from_epoch(now),
            blocked=sum(d.state != JobState.COMPLETED for d in deps),
        )
        return "requeued"

    def remove(self, job_id: str) -> RemoveResult:
        job = self._jobs.get(job_id)
        if job is None:
            return "missing"
        if job.state not in FINISHED_STATES:
            return "unfinished"
        self._delete(job_id)
        return "removed"

    def _delete(self, job_id: str) -> None:
        del self._jobs[job_id]
        self._waiters.pop(job_id, None)

    def processing(self) -> list[Job]:
        return [j for j in self._jobs.values() if j.state == JobState.PROCESSING]
