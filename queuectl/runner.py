"""The Runner: N worker slots in one event loop, fed by batched claims.

One dispatch loop claims as many jobs as there are free slots (never more, so other
runners are not starved), starts a task per job, and sleeps when there is nothing to do
until a wake-up, the earliest scheduled ``run_at``, the fallback poll or a stop. Outcomes
go through the Finisher (group commit). Side tasks renew leases and recover jobs of dead
runners. ``stop()`` drains; ``stop(hard=True)`` also ends running commands and gives
their jobs back uncounted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from queuectl.config import Settings
from queuectl.deathwatch import DeathWatch
from queuectl.errors import StoreError
from queuectl.executor import ShellExecutor
from queuectl.finisher import Finisher
from queuectl.models import (
    RUNNABLE_STATES,
    SUCCESS,
    Job,
    JobState,
    Outcome,
    RunnerInfo,
    from_epoch,
)
from queuectl.process import Spawner
from queuectl.recovery import recover
from queuectl.registry import new_runner_info
from queuectl.retry import RetryPolicy, decide
from queuectl.store.base import Finish, Store, WakeKind

__all__ = ["Execute", "RunStats", "Runner"]

log = logging.getLogger("queuectl.runner")

#: Longest time between two retention passes of a runner, in seconds.
_RETENTION_PERIOD = 60.0

#: Runs one job; returns its Outcome (None means success) or raises (a failed attempt).
Execute = Callable[[Job], Awaitable[Outcome | None]]


@dataclass(slots=True)
class RunStats:
    completed: int = 0
    failed: int = 0
    dead: int = 0
    given_back: int = 0
    recovered: int = 0

    def count(self, state: JobState) -> None:
        if state == JobState.COMPLETED:
            self.completed += 1
        elif state == JobState.FAILED:
            self.failed += 1
        elif state == JobState.DEAD:
            self.dead += 1
        else:
            self.given_back += 1


@dataclass(slots=True)
class _Active:
    job: Job
    task: asyncio.Task[None] | None = None
    exec_task: asyncio.Task[Outcome] | None = None
    #: Set when the runner itself interrupts the command: "shutdown" or "lost".
    interrupted: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Runner:
    """Processes jobs from a store until stopped (or, in burst mode, until done)."""

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        *,
        concurrency: int = 1,
        burst: bool = False,
        execute: Execute | None = None,
        queues: tuple[str, ...] = (),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        #: The named queues this runner consumes; empty means all of them.
        self.queues = tuple(dict.fromkeys(queues))
        self.id = uuid.uuid4().hex[:12]
        self.store = store
        self.settings = settings or Settings()
        self.concurrency = concurrency
        self.burst = burst
        self.policy = RetryPolicy(
            backoff_base=self.settings.backoff_base,
            backoff_max=self.settings.backoff_max,
            backoff_jitter=self.settings.backoff_jitter,
        )
        self._shell: ShellExecutor | None = None
        if execute is None:
            self._shell = execute = ShellExecutor(
                runner_id=self.id,
                default_timeout=self.settings.job_timeout,
                kill_grace=self.settings.kill_grace,
                spawner=Spawner(threads=min(concurrency, 4)),
            )
        self._execute: Execute = execute
        self.stats = RunStats()
        self._running: dict[str, _Active] = {}
        self._kick = asyncio.Event()
        self._stopping = False
        self._hard = False
        self._info: RunnerInfo | None = None
        self._control = asyncio.Event()
        self._peer_exited = asyncio.Event()
        self._deathwatch: DeathWatch | None = None

    # -- control ------------------------------------------------------------
    def stop(self, *, hard: bool = False) -> None:
        """Stop claiming and let running jobs finish; ``hard`` also ends them.

        Idempotent; safe to call from signal handlers and other tasks. A hard stop
        terminates the commands and gives their jobs back without counting the attempt.
        """
        self._stopping = True
        self._kick.set()
        if hard and not self._hard:
            self._hard = True
            for active in self._running.values():
                self._interrupt(active, "shutdown")

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def info(self) -> RunnerInfo | None:
        """The registry entry while running."""
        return self._info

    def _interrupt(self, active: _Active, why: str) -> None:
        if active.interrupted is None:
            active.interrupted = why
            if active.exec_task is not None:
                active.exec_task.cancel()

    def _on_wake(self, kind: WakeKind) -> None:
        if kind == "control":
            self._control.set()
        else:
            self._kick.set()

    # -- main ---------------------------------------------------------------
    async def run(self) -> RunStats:
        """Run until stopped; an outside cancellation drains first, then re-raises."""
        subscription = await self.store.subscribe(self._on_wake)
        self._info = new_runner_info(
            self.id, self.concurrency, subscription.address, self.store.now(), self.queues
        )
        try:
            await self.store.register_runner(self._info)
        except BaseException:
            await subscription.close()  # e.g. a listening connection of its own
            self._info = None
            raise
        finisher = Finisher(self.store)
        side = [
            asyncio.create_task(finisher.run(), name="queuectl-finisher"),
            asyncio.create_task(self._heartbeat_loop(), name="queuectl-heartbeat"),
            asyncio.create_task(self._recovery_loop(), name="queuectl-recovery"),
        ]
        if self.settings.retention:
            side.append(asyncio.create_task(self._retention_loop(), name="queuectl-retention"))
        self._finisher = finisher
        for task in side:
            task.add_done_callback(self._side_task_done)
        self._deathwatch = DeathWatch(self._peer_exited.set)
        try:
            # Give back the jobs of dead runners before deciding there is nothing to do.
            await self._recover()
            await self._dispatch()
            await self._drain()
        except asyncio.CancelledError:
            self.stop()
            await self._drain()
            raise
        finally:
            finisher.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(side[0], 30)
            for task in side[1:]:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            # Leaving the registry comes last among the awaits: ``stop_runners`` takes
            # it for the end of a runner in its own process.
            try:
                await subscription.close()
            finally:
                with contextlib.suppress(StoreError):
                    await self.store.unregister_runner(self.id)
            self._deathwatch.close()
            if self._shell is not None:
                self._shell.close()
            self._info = None
        return self.stats

    def _side_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("runner task %s failed: %r; stopping", task.get_name(), task.exception())
        self.stop(hard=True)

    async def _dispatch(self) -> None:
        while not self._stopping:
            self._kick.clear()
            free = self.concurrency - len(self._running)
            if free <= 0:
                await self._kick.wait()
                continue
            jobs = await self._claim(free)
            if jobs is None:
                continue  # the store failed: try again rather than judge the queue empty
            for job in jobs:
                self._start(job)
            if len(jobs) == free:
                continue
            timeout = await self._idle_timeout()
            if timeout is None:
                return  # burst: nothing left to run
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)

    async def _claim(self, limit: int) -> list[Job] | None:
        """Claimed jobs, or None (after a pause) when the store failed."""
        claiming = asyncio.ensure_future(
            self.store.claim(self.id, limit, self.settings.lease_seconds, self.queues or None)
        )
        try:
            return await asyncio.shield(claiming)
        except StoreError as exc:
            log.warning("claiming failed, retrying: %s", exc)
            await asyncio.sleep(1.0)
            return None
        except asyncio.CancelledError:
            # An outside cancellation does not stop a claim already sent to the store:
            # run what it took, so the drain records those jobs instead of leaving them
            # processing under a runner that is about to unregister.
            with contextlib.suppress(StoreError):
                for job in await claiming:
                    self._start(job)
            raise

    async def _idle_timeout(self) -> float | None:
        """How long to sleep when nothing is runnable now; None ends a burst run."""
        poll = self.settings.poll_interval
        try:
            if self.burst and not self._running:
                # Burst waits for retries of failed jobs but not for scheduled ones.
                next_at = await self.store.next_run_at(
                    states=frozenset({JobState.FAILED}), queues=self.queues or None
                )
                if next_at is None:
                    return None
                return max(0.0, next_at - self.store.now())
            next_at = await self.store.next_run_at(
                states=RUNNABLE_STATES, queues=self.queues or None
            )
        except StoreError as exc:
            log.warning("reading the queue failed, retrying: %s", exc)
            return 1.0
        if next_at is None:
            return poll
        return min(poll, max(0.0, next_at - self.store.now()))

    def _start(self, job: Job) -> None:
        active = _Active(job)
        self._running[job.id] = active
        active.task = asyncio.create_task(self._work(active), name=f"queuectl-job-{job.id}")
        if self._hard:
            self._interrupt(active, "shutdown")

    async def _drain(self) -> None:
        tasks = [a.task for a in self._running.values() if a.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one job --------------------------------------------------------------
    async def _work(self, active: _Active) -> None:
        job = active.job
        try:
            active.exec_task = asyncio.create_task(self._call_execute(job))
            if active.interrupted:
                active.exec_task.cancel()
            try:
                outcome = await active.exec_task
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if active.interrupted is None or (task is not None and task.cancelling()):
                    raise
                outcome = Outcome(
                    exit_code=None,
                    reason="shutdown",
                    error="given back by a hard stop of its runner (attempt not counted)",
                )
            if active.interrupted == "lost":
                log.warning("job %s was taken over by another runner; result dropped", job.id)
                return
            t = decide(job, outcome, self.policy)
            applied = await self._finisher.submit(
                Finish(job.id, job.token, t.state, t.delay, t.counted, t.exit_code, t.last_error)
            )
            if applied:
                self.stats.count(t.state)
            else:
                log.warning("job %s: claim lost before its outcome was recorded; dropped", job.id)
        finally:
            self._running.pop(job.id, None)
            active.done.set()
            self._kick.set()

    async def _call_execute(self, job: Job) -> Outcome:
        try:
            result = await self._execute(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return Outcome(exit_code=None, reason="error", error=f"{type(exc).__name__}: {exc}")
        return SUCCESS if result is None else result

    # -- side tasks -------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        """Renew leases every third of a lease, and at once on a control wake-up."""
        interval = self.settings.lease_seconds / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._control.wait(), interval)
            self._control.clear()
            await self._beat()

    async def _beat(self) -> None:
        # Only jobs claimed before the renewal can be judged by it.
        claimed_before = list(self._running.values())
        try:
            beat = await self.store.heartbeat(self.id, self.settings.lease_seconds)
            if not beat.registered and self._info is not None:
                # With a fresh heartbeat: the old one could get the entry dropped again.
                self._info = dataclasses.replace(
                    self._info, heartbeat_at=from_epoch(self.store.now())
                )
                await self.store.register_runner(self._info)
        except StoreError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        if beat.stop_requested:
            self.stop(hard=beat.stop_requested >= 2)
        for active in claimed_before:
            if active.job.id not in beat.held and not active.done.is_set():
                self._interrupt(active, "lost")

    async def _recovery_loop(self) -> None:
        """Recover on a timer, and at once when a runner of this host exits."""
        interval = min(self.settings.lease_seconds / 2, 5.0)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._peer_exited.wait(), interval)
            self._peer_exited.clear()
            await self._recover()

    async def _recover(self) -> None:
        assert self._info is not None
        try:
            result = await recover(
                self.store,
                self._info,
                lease_seconds=self.settings.lease_seconds,
                kill_grace=self.settings.kill_grace,
                policy=self.policy,
            )
        except StoreError as exc:
            log.warning("recovery pass failed: %s", exc)
            return
        self.stats.recovered += result.recovered
        if self._deathwatch is not None:
            self._deathwatch.watch(r.pid for r in result.local_peers)

    async def _retention_loop(self) -> None:
        """Purge finished jobs past their retention, a small batch at a time."""
        ages = self.settings.retention_seconds
        # Often enough that a job outlives its retention by at most about half of it.
        period = min(_RETENTION_PERIOD, max(1.0, min(ages.values()) / 2))
        while True:
            for state, age in ages.items():
                try:
                    await self._purge_all(JobState(state), age)
                except StoreError as exc:
                    log.warning("purging %s jobs failed: %s", state, exc)
            await asyncio.sleep(period)

    async def _purge_all(self, state: JobState, age: float) -> None:
        while True:
            deleted = await self.store.purge(states=frozenset({state}), older_than=age, limit=200)
            if not deleted:
                return
            await asyncio.sleep(0.05)  # let claims and finishes in between batches
