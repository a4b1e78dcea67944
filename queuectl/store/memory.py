"""An in-memory store honouring the Store contract: for unit tests and embedders' tests.

Everything lives in one process; wake-ups reach the subscribers of this store object.
The store holds its parts (the job table, the attempt history, the runner registry and
the subscribers) and does each operation's steps across them.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

from queuectl.domain import minutes
from queuectl.domain.errors import InvalidState
from queuectl.domain.histograms import Histogram, from_names
from queuectl.domain.models import (
    FINISHED_STATES,
    Attempt,
    Job,
    JobOutput,
    JobState,
    RunnerInfo,
    from_epoch,
)
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
    taken,
)
from queuectl.store.memory_history import MemoryHistory
from queuectl.store.memory_jobs import JobTable
from queuectl.store.memory_schedules import ScheduleTable
from queuectl.store.pruning import prune_minutes_loop

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


class MemoryStore(Store):
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._jobs = JobTable(clock)
        self._history = MemoryHistory()
        self._schedules = ScheduleTable(self._jobs, clock)
        self._runners: dict[str, RunnerInfo] = {}
        self._subscribers: set[_MemorySubscription] = set()
        self._settings: dict[str, QueueSetting] = {}
        #: (kind, queue) -> bucket name or SUM -> n (``Store.histograms``)
        self._histograms: dict[tuple[str, str], collections.Counter[str]] = {}
        #: Outcomes per minute tally name, all queues together (``domain.minutes``).
        self._minutes: collections.Counter[str] = collections.Counter()

    def now(self) -> float:
        return self._clock()

    async def close(self) -> None:
        self._subscribers.clear()

    # -- jobs ---------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob]) -> LeftOut:
        skipped = self._jobs.insert(jobs)
        await self.notify("jobs")
        return skipped

    async def enqueue_chunks(
        self,
        chunks: Iterable[Sequence[NewJob]],
        on_left_out: Callable[[LeftOut], None] | None = None,
    ) -> int:
        inserted: list[str] = []  # taken back if a later chunk fails: all or nothing
        try:
            for chunk in chunks:
                skipped = self._jobs.insert(chunk)
                inserted += [job.id for job in chunk if job.id not in skipped]
                if skipped and on_left_out is not None:
                    on_left_out(skipped)
        except BaseException:
            self._jobs.discard(inserted)
            raise
        if inserted:
            await self.notify("jobs")
        return len(inserted)

    async def get(self, job_id: str) -> Job:
        return self._jobs.get(job_id)

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> AsyncIterator[Job]:
        ordered = self._jobs.ordered()
        selected = [
            j
            for j in (reversed(ordered) if newest else ordered)
            if (state is None or j.state == state) and (queue is None or j.queue == queue)
        ]
        for job in selected[:limit]:
            yield job

    async def count_jobs(self) -> dict[str, dict[JobState, int]]:
        counts: dict[str, dict[JobState, int]] = {}
        for job in self._jobs:
            counts.setdefault(job.queue, dict.fromkeys(JobState, 0))[job.state] += 1
        return counts

    async def finished_totals(self) -> dict[tuple[str, str], int]:
        return dict(self._jobs.finished_totals)

    async def histograms(self) -> dict[tuple[str, str], Histogram]:
        return {key: from_names(names) for key, names in sorted(self._histograms.items())}

    async def record_observations(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        for (kind, queue, name), n in counts.items():
            if kind == minutes.MINUTE:
                self._minutes[name] += n
                continue
            self._histograms.setdefault((kind, queue), collections.Counter())[name] += n

    async def next_run_at(
        self, *, states: frozenset[JobState], queues: Sequence[str] | None = None
    ) -> float | None:
        times = [
            j.run_at.timestamp()
            for j in self._jobs
            if j.state in states and self._jobs.runnable(j, queues)
        ]
        return min(times, default=None)

    async def claim(
        self,
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
    ) -> list[Job]:
        claimed = self._jobs.claim(
            runner_id, limit, lease_seconds, queues, self.now(), self._settings
        )
        runner = self._runners.get(runner_id)
        for job in claimed:
            self._history.start(job, runner_id, runner)
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
            job = self._jobs.finish(f, now)
            if job is not None:
                self._history.end(job, from_epoch(now), f.exit_code, f.signal, f.reason)
                done.add(f.job_id)
        await self.notify("jobs")
        return done

    async def retry_dead(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job.state != JobState.DEAD:
            raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
        holder = self._jobs.key_holder(job)
        if holder is not None:
            assert job.unique_key is not None
            raise taken(job.unique_key, holder, job_id)
        job = self._jobs.update(
            job, state=JobState.PENDING, attempts=0, run_at=from_epoch(self.now())
        )
        await self.notify("jobs")
        return job

    async def requeue(self, job_ids: Sequence[str]) -> dict[str, RequeueResult]:
        now = self.now()
        results = {job_id: self._jobs.requeue(job_id, now) for job_id in dict.fromkeys(job_ids)}
        if "requeued" in results.values():
            await self.notify("jobs")
        return results

    async def remove(self, job_ids: Sequence[str]) -> dict[str, RemoveResult]:
        results = {job_id: self._jobs.remove(job_id) for job_id in dict.fromkeys(job_ids)}
        for job_id, result in results.items():
            if result == "removed":
                self._history.forget(job_id)
        return results

    async def purge(
        self,
        *,
        states: frozenset[JobState],
        older_than: float | None = None,
        queue: str | None = None,
        limit: int = 500,
    ) -> int:
        doomed = self._jobs.purge(states, older_than, queue, limit, self.now())
        for job_id in doomed:
            self._history.forget(job_id)
        return len(doomed)

    async def cancel(self, job_ids: Sequence[str]) -> dict[str, CancelResult]:
        now = self.now()
        results = {job_id: self._jobs.cancel(job_id, now) for job_id in job_ids}
        if "requested" in results.values():
            await self.notify("control")
        return results

    # -- queue settings -------------------------------------------------------
    async def set_paused(self, names: Sequence[str], paused: bool) -> None:
        for name in names:
            self._set(name, self._settings.get(name, QueueSetting())._replace(paused=paused))
        if not paused:
            await self.notify("jobs")

    async def set_cap(self, name: str, cap: int | None) -> None:
        self._set(name, self._settings.get(name, QueueSetting())._replace(cap=cap))
        await self.notify("jobs")

    def _set(self, name: str, setting: QueueSetting) -> None:
        """Keep only queues with a setting, as the SQL stores do."""
        if setting == QueueSetting():
            self._settings.pop(name, None)
        else:
            self._settings[name] = setting

    async def queue_settings(self) -> dict[str, QueueSetting]:
        return dict(sorted(self._settings.items()))

    async def ids_from(self, prefix: str, limit: int) -> list[str]:
        return sorted(j.id for j in self._jobs if j.id.startswith(prefix))[:limit]

    async def oldest_runnable(self, queues: Sequence[str]) -> dict[str, float]:
        oldest: dict[str, float] = {}
        for job in self._jobs:
            if job.queue in queues and self._jobs.runnable(job, None):
                at = job.run_at.timestamp()
                oldest[job.queue] = min(at, oldest.get(job.queue, at))
        return oldest

    # -- output and history ---------------------------------------------------
    async def write_output(self, writes: Sequence[OutputWrite]) -> None:
        self._history.write(writes)

    async def read_output(self, job_id: str, token: int) -> dict[int, JobOutput]:
        return self._history.read(job_id, token)

    async def attempts(self, job_id: str) -> list[Attempt]:
        self._jobs.get(job_id)
        return self._history.attempts(job_id)

    async def outcomes_by_minute(self, since: int) -> dict[tuple[int, str], int]:
        least = minutes.bound(since)
        return {minutes.parse(name): n for name, n in self._minutes.items() if name >= least}

    async def browse_jobs(self, page: JobPage) -> FoundJobs:
        ordered = self._jobs.ordered()
        if page.newest:
            ordered = ordered[::-1]
        ids = [j.id for j in ordered]
        start = ids.index(page.after) + 1 if page.after in ids else 0
        window = [
            j
            for j in ordered[start:]
            if (page.state is None or j.state == page.state)
            and (page.queue is None or j.queue == page.queue)
        ]
        if page.text and page.scan is not None:
            window = window[: page.scan]
        found = [j for j in window if not page.text or page.text in j.id or page.text in j.command]
        jobs = found[: page.limit]
        if len(jobs) == page.limit:
            return FoundJobs(jobs, jobs[-1].id)
        bounded = page.text and page.scan is not None and len(window) == page.scan
        return FoundJobs(jobs, window[-1].id if bounded else None)

    async def finished_since(self, seconds: float) -> int:
        cutoff = self.now() - seconds
        return sum(
            1
            for j in self._jobs
            if j.state in FINISHED_STATES
            and j.finished_at is not None
            and j.finished_at.timestamp() > cutoff
        )

    async def expired_claims(self) -> list[Job]:
        now = self.now()
        return [
            j
            for j in self._jobs.processing()
            if j.lease_until is not None and j.lease_until.timestamp() < now
        ]

    async def claims_of(self, runner_id: str) -> list[Job]:
        return [j for j in self._jobs.processing() if j.runner_id == runner_id]

    # -- runners ------------------------------------------------------------
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
            self._runners[runner_id] = runner._replace(heartbeat_at=from_epoch(now))
        held, cancel = set(), set()
        for job in await self.claims_of(runner_id):
            self._jobs.update(job, lease_until=from_epoch(now + lease_seconds))
            held.add(job.id)
            if job.cancel_requested:
                cancel.add(job.id)
        return Heartbeat(
            held=frozenset(held),
            stop_requested=runner.stop_requested if runner else 0,
            registered=runner is not None,
            cancel=frozenset(cancel),
        )

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        for runner_id in runner_ids:
            if runner_id in self._runners:
                runner = self._runners[runner_id]
                level = max(runner.stop_requested, 2 if hard else 1)
                self._runners[runner_id] = runner._replace(stop_requested=level)
        await self.notify("control")

    # -- schedules ----------------------------------------------------------
    async def save_schedule(self, schedule: NewSchedule, *, replace: bool = False) -> None:
        self._schedules.save(schedule, replace)
        await self.notify("schedules")

    async def get_schedule(self, name: str) -> Schedule:
        return self._schedules.get(name)

    async def list_schedules(self) -> list[Schedule]:
        return [self._schedules.get(name) for name in self._schedules.names()]

    async def remove_schedule(self, name: str) -> None:
        self._schedules.remove(name)
        await self.notify("schedules")

    async def pause_schedule(self, name: str, paused: bool) -> None:
        self._schedules.pause(name, paused)
        await self.notify("schedules")

    async def fire_schedule(
        self, name: str, at: float, job: NewJob, *, missed: int = 0
    ) -> FireResult:
        result = self._schedules.fire(name, at, job, missed)
        if result == "fired":
            await self.notify("jobs")
        return result

    async def run_schedule(self, name: str, job: NewJob) -> None:
        self._schedules.run(name, job)
        await self.notify("jobs")

    async def pass_over(self, name: str, upto: float, missed: int) -> None:
        self._schedules.pass_over(name, upto, missed)

    async def schedule_fires(self, name: str, limit: int = 20) -> list[Fire]:
        return self._schedules.fires(name, limit)

    # -- wake-ups -----------------------------------------------------------
    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        subscription = _MemorySubscription(self, on_wake)
        self._subscribers.add(subscription)
        return subscription

    async def notify(self, kind: WakeKind = "jobs") -> None:
        loop = asyncio.get_running_loop()
        for subscription in list(self._subscribers):
            loop.call_soon(subscription.on_wake, kind)

    async def maintain(self) -> None:
        """Prunes the minute tallies, as the other stores' upkeep does."""

        async def prune(before: str) -> None:
            for name in [name for name in self._minutes if name < before]:
                del self._minutes[name]

        await prune_minutes_loop(prune, self.now)
