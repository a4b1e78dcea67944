"""The Runner: N worker slots in one event loop, fed by batched claims.

One dispatch loop does all the store work of running jobs: each round trip writes the
outcomes that accumulated and claims as many jobs as there are free slots (never more,
so other runners are not starved), in one transaction (``Store.exchange``). It sleeps
when there is nothing to do, until a wake-up, the earliest scheduled ``run_at``, the
fallback poll or a stop. Side tasks renew leases and recover jobs of dead runners.
``stop()`` drains; ``stop(hard=True)`` also ends running commands and gives their jobs
back uncounted.

Shell jobs on SQLite (on Linux with glibc) skip the dispatch loop: the shell core's thread
(``core.py``) claims, runs and records them, and the side tasks stay here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator

from queuectl.domain.config import Settings
from queuectl.domain.errors import StoreError
from queuectl.domain.models import RUNNABLE_STATES, Job, JobState, RunnerInfo
from queuectl.domain.retry import RetryPolicy
from queuectl.runner.capture import OutputCapture, OutputWriter
from queuectl.runner.core import ShellCore, open_core
from queuectl.runner.events import JobEvent, RunStats
from queuectl.runner.executor import ShellExecutor
from queuectl.runner.outbox import Outbox
from queuectl.runner.process import Spawner
from queuectl.runner.registry import new_runner_info
from queuectl.runner.slots import Execute, Slots
from queuectl.runner.upkeep import Upkeep
from queuectl.store.base import Finish, Store, WakeKind

__all__ = ["Execute", "JobEvent", "RunStats", "Runner"]

log = logging.getLogger("queuectl.runner")


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
        on_event: Callable[[JobEvent], None] | None = None,
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
        self._on_event = on_event
        self._writer = OutputWriter(store)
        self._shell: ShellExecutor | None = None
        if execute is None:
            self._shell = execute = ShellExecutor(
                runner_id=self.id,
                default_timeout=self.settings.job_timeout,
                kill_grace=self.settings.kill_grace,
                spawner=Spawner(),
                sinks=self._capture if self.settings.output_limit else None,
            )
        self._slots = Slots(self, execute, self._writer)
        self.stats = RunStats()
        self.outbox = Outbox(self.wake)
        self._kick = asyncio.Event()
        self._stopping = False
        self._info: RunnerInfo | None = None
        self._upkeep: Upkeep | None = None
        #: The shell core's thread runs this runner's jobs when it can (``core.py``).
        self._core: ShellCore | None = None

    # -- control ------------------------------------------------------------
    def stop(self, *, hard: bool = False) -> None:
        """Stop claiming and let running jobs finish; ``hard`` also ends them.

        Idempotent; safe to call from signal handlers and other tasks. A hard stop
        terminates the commands and gives their jobs back without counting the attempt.
        """
        self._stopping = True
        self._kick.set()
        if hard and not self._slots.hard:
            self._slots.hard = True
            self._slots.interrupt_all("shutdown")
        if self._core is not None:
            self._core.stop(hard=self._slots.hard)

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def info(self) -> RunnerInfo | None:
        """The registry entry while running."""
        return self._info

    def active_jobs(self) -> Iterator[str]:
        """Ids of the jobs whose command runs."""
        if self._core is not None:
            return iter(self._core.running())
        return self._slots.running()

    def interrupt(self, job_id: str, why: str) -> None:
        """End a running job's command: ``cancel`` it, or drop it because it was ``lost``."""
        if self._core is not None:
            self._core.interrupt(job_id, why)
        else:
            self._slots.interrupt(job_id, why)

    def wake(self) -> None:
        """Have the dispatch loop look again (a slot freed, an outcome to write, a stop)."""
        self._kick.set()
        if self._core is not None:
            self._core.wake()

    def emit(self, event: JobEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _capture(self, job: Job) -> OutputCapture:
        return self._slots.capture(job)

    def _on_wake(self, kind: WakeKind) -> None:
        if kind == "control":
            if self._upkeep is not None:
                self._upkeep.control_requested()
        else:
            self.wake()

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
        upkeep = self._upkeep = Upkeep(self)
        side = [
            asyncio.create_task(upkeep.heartbeat_loop(), name="queuectl-heartbeat"),
            asyncio.create_task(upkeep.recovery_loop(), name="queuectl-recovery"),
            asyncio.create_task(self._writer.run(), name="queuectl-output"),
            asyncio.create_task(self.store.maintain(), name="queuectl-store-upkeep"),
        ]
        if self.settings.retention:
            side.append(asyncio.create_task(upkeep.retention_loop(), name="queuectl-retention"))
        for task in side:
            task.add_done_callback(self._side_task_done)
        try:
            # Give back the jobs of dead runners before deciding there is nothing to do.
            await upkeep.recover()
            core = self._new_core()
            if core is not None:
                await core.run()  # drains by itself when cancelled from outside
            else:
                await self._dispatch()
        except asyncio.CancelledError:
            if self._core is None:
                self.stop()
                await self._dispatch()  # claims nothing now: records what runs, then ends
            raise
        finally:
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            # Leaving the registry comes last among the awaits: ``stop_runners`` takes
            # it for the end of a runner in its own process.
            try:
                await subscription.close()
            finally:
                with contextlib.suppress(StoreError):
                    await self.store.unregister_runner(self.id)
            upkeep.close()
            if self._shell is not None:
                self._shell.close()
            self._info = None
            self._upkeep = None
            self._core = None
        return self.stats

    def _new_core(self) -> ShellCore | None:
        """The shell core, for the default executor on a store that allows one."""
        if self._shell is None or self._stopping:
            return None
        self._core = open_core(self)
        return self._core

    def _side_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("runner task %s failed: %r; stopping", task.get_name(), task.exception())
        self.stop(hard=True)

    async def _dispatch(self) -> None:
        """Write outcomes and claim for free slots until stopped (and drained) or done."""
        idle = False  # the last claim found fewer runnable jobs than it asked for
        while True:
            self._kick.clear()
            finishes = self.outbox.peek()
            free = 0 if self._stopping else self.concurrency - self._slots.busy
            # Claim while there may be work; along with outcomes even when idle: they can
            # make jobs runnable (dependencies) and the claim shares their commit.
            claim = free if free > 0 and (finishes or not idle) else 0
            if finishes or claim:
                jobs = await self._exchange(finishes, claim)
                if claim and jobs is not None:
                    idle = len(jobs) < claim
                continue
            if self._stopping:
                if self._slots.idle:
                    return  # stopped and drained
                await self._kick.wait()
            elif free <= 0:
                await self._kick.wait()  # a slot frees when an outcome is submitted
            else:
                timeout = await self._idle_timeout()
                if timeout is None:
                    return  # burst: nothing left to run
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout)
                idle = False

    async def _exchange(self, finishes: list[Finish], claim: int) -> list[Job] | None:
        """One store round trip; the claimed jobs, or None (after a pause) on failure."""
        call = asyncio.ensure_future(
            self.store.exchange(
                finishes, self.id, claim, self.settings.lease_seconds, self.queues or None
            )
        )
        try:
            applied, jobs = await asyncio.shield(call)
        except StoreError as exc:
            log.warning("recording outcomes or claiming failed, retrying: %s", exc)
            await asyncio.sleep(1.0)
            return None
        except asyncio.CancelledError:
            # An outside cancellation does not stop a round trip already sent: record
            # it, and run what it claimed so the drain records those jobs too.
            with contextlib.suppress(StoreError):
                applied, jobs = await call
                self._accept(finishes, applied, jobs)
            raise
        self._accept(finishes, applied, jobs)
        return jobs

    def _accept(self, finishes: list[Finish], applied: set[str], jobs: list[Job]) -> None:
        self.outbox.written(len(finishes), applied)
        for job in jobs:
            self._slots.start(job)

    async def _idle_timeout(self) -> float | None:
        """How long to sleep when nothing is runnable now; None ends a burst run."""
        poll = self.settings.poll_interval
        try:
            if self.burst and self._slots.idle:
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
