"""The Runner: N worker slots on one event loop, from registration to a clean exit.

A runner registers itself, gives back the jobs of dead runners, then runs its dispatch
loop (``dispatch.py``) beside its side tasks: leases and control flags, recovery,
retention, the store's own upkeep (``upkeep.py``), and the firing of schedules
(``firing.py``). Each claimed job runs in a slot (``slots.py``) through the runner's
executor: shell commands by default (``shell.py``), or a Python ``execute`` function.
``stop()`` drains; ``stop(hard=True)`` also ends running work and gives those jobs back
uncounted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator

from queuectl.domain.config import Settings
from queuectl.domain.errors import StoreError
from queuectl.domain.models import RunnerInfo, WakeKind
from queuectl.domain.retry import RetryPolicy
from queuectl.runner.dispatch import Dispatcher, Plan
from queuectl.runner.events import JobEvent, RunStats
from queuectl.runner.executor import CoroutineExecutor, Execute, Executor
from queuectl.runner.firing import Firing
from queuectl.runner.observations import Observations
from queuectl.runner.outbox import Outbox, Recording
from queuectl.runner.registry import new_runner_info
from queuectl.runner.shell import DRAIN, ShellExecutor
from queuectl.runner.slots import Slots
from queuectl.runner.upkeep import Upkeep
from queuectl.store.base import Store

__all__ = ["Execute", "JobEvent", "RunStats", "Runner"]

log = logging.getLogger("queuectl.runner")

#: Jobs remembered as warned about lost output (forgotten in one go past this).
_WARNED_LOSS_LIMIT = 10_000


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
        self.settings = settings = settings or Settings()
        self.concurrency = concurrency
        self.burst = burst
        self.policy = RetryPolicy(
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            backoff_jitter=settings.backoff_jitter,
        )
        self.stats = RunStats()
        self._on_event = on_event
        self._executor: Executor = (
            ShellExecutor(
                runner_id=self.id,
                default_timeout=settings.job_timeout,
                kill_grace=settings.kill_grace,
            )
            if execute is None
            else CoroutineExecutor(execute)
        )
        outbox = Outbox()
        self._slots = Slots(
            self._executor,
            outbox,
            self.policy,
            output_limit=settings.output_limit,
            on_change=self.wake,
        )
        plan = Plan(
            runner_id=self.id,
            concurrency=concurrency,
            queues=self.queues,
            lease_seconds=settings.lease_seconds,
            poll_interval=settings.poll_interval,
            burst=burst,
        )
        self._observations = Observations(store.now)
        self._dispatcher = Dispatcher(
            store,
            plan,
            self._slots,
            outbox,
            self._recorded,
            self._output_lost,
            self._observations,
        )
        self._warned_loss: set[str] = set()  # jobs
        self._upkeep: Upkeep | None = None
        self._firing = Firing(store, settings.max_retries, settings.retry_on)
        self._info: RunnerInfo | None = None
        self._failure: StoreError | None = None

    # -- control ------------------------------------------------------------
    def stop(self, *, hard: bool = False) -> None:
        """Stop claiming and let running jobs finish; ``hard`` also ends them.

        Idempotent; safe to call from signal handlers and other tasks. A hard stop
        ends the work and gives the jobs back without counting the attempt.
        """
        self._dispatcher.stop()
        if hard and not self._slots.hard:
            self._slots.hard = True
            self._slots.interrupt_all("shutdown")

    def fail(self, error: StoreError) -> None:
        """Its store is unusable for good: drain, then make ``run`` raise ``error``.

        Running commands finish (their outcomes go where the runner writes, which may
        be lost with the store); nothing more is claimed.
        """
        if self._failure is None:
            self._failure = error
            log.error("%s; stopping (running jobs finish first)", error)
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._dispatcher.stopping

    @property
    def info(self) -> RunnerInfo | None:
        """The registry entry while running."""
        return self._info

    def active_jobs(self) -> Iterator[str]:
        """Ids of the jobs whose work runs."""
        return self._slots.running()

    def interrupt(self, job_id: str, why: str) -> None:
        """End a running job's work: ``cancel`` it, or drop it because it was ``lost``."""
        self._slots.interrupt(job_id, why)

    def wake(self) -> None:
        """Have the dispatch loop look again (a slot freed, an outcome to write, a stop)."""
        self._dispatcher.wake()

    def _recorded(self, recordings: list[Recording], applied: set[str]) -> None:
        for finish, event in recordings:
            if finish.job_id in applied:
                self.stats.count(event.state)
                self._observations.finished(event.job.queue, event.state, event.duration)
                if self._on_event is not None:
                    self._on_event(event)
            else:
                log.warning(
                    "job %s: claim lost before its outcome was recorded; dropped", finish.job_id
                )

    def _output_lost(self, attempts: set[tuple[str, int]], reason: str) -> None:
        """Output of these attempts was given up: warn once for each, keep no gap."""
        self._slots.output_lost(attempts, reason)
        if len(self._warned_loss) > _WARNED_LOSS_LIMIT:
            self._warned_loss.clear()
        jobs = {job_id for job_id, _token in attempts}
        for job_id in sorted(jobs - self._warned_loss):
            log.warning("job %s: output not kept (%s); `logs` marks the gap", job_id, reason)
        self._warned_loss |= jobs

    def _on_wake(self, kind: WakeKind) -> None:
        if kind == "control":
            if self._upkeep is not None:
                self._upkeep.control_requested()
        elif kind == "schedules":
            self._firing.changed()
        else:
            self.wake()

    # -- main ---------------------------------------------------------------
    async def run(self) -> RunStats:
        """Run until stopped; an outside cancellation drains first, then re-raises.

        Raises StoreGone (after draining) when its store was deleted or replaced.
        """
        store = self.store
        subscription = await store.subscribe(self._on_wake)
        self._info = new_runner_info(
            self.id, self.concurrency, subscription.address, store.now(), self.queues
        )
        try:
            await store.register_runner(self._info)
        except BaseException:
            await subscription.close()  # e.g. a listening connection of its own
            self._info = None
            raise
        upkeep = self._upkeep = Upkeep(store, self.settings, self.policy, self, self.stats)
        side = [
            asyncio.create_task(upkeep.heartbeat_loop(), name="queuectl-heartbeat"),
            asyncio.create_task(upkeep.recovery_loop(), name="queuectl-recovery"),
            asyncio.create_task(store.maintain(), name="queuectl-store-upkeep"),
            asyncio.create_task(self._observations.flush_loop(store), name="queuectl-observations"),
            asyncio.create_task(self._firing.loop(), name="queuectl-schedules"),
        ]
        if self.settings.retention:
            side.append(asyncio.create_task(upkeep.retention_loop(), name="queuectl-retention"))
        for task in side:
            task.add_done_callback(self._side_task_done)
        try:
            # Give back the jobs of dead runners before deciding there is nothing to do.
            await upkeep.recover()
            await self._dispatch()
        finally:
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            if self._slots.busy:  # the dispatch loop failed: no command outlives it
                await self._slots.abandon(self.settings.kill_grace + DRAIN + 1.0)
            self._slots.close()
            try:
                await self._observations.flush(store)
            except StoreError as exc:
                log.warning("latency observations not recorded: %s", exc)
            # Leaving the registry comes last among the awaits: ``stop_runners`` takes
            # it for the end of a runner in its own process.
            try:
                await subscription.close()
            finally:
                with contextlib.suppress(StoreError):
                    await store.unregister_runner(self.id)
            upkeep.close()
            self._executor.close()
            self._info = None
            self._upkeep = None
        if self._failure is not None:
            raise self._failure
        return self.stats

    async def _dispatch(self) -> None:
        """The dispatch loop, in a task of its own: an outside cancellation of ``run``
        must not cut a round trip short (its claims would be lost), so it drains."""
        task = asyncio.create_task(self._dispatcher.run(), name="queuectl-dispatch")
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            self.stop()
            await task
            raise

    def _side_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("runner task %s failed: %r; stopping", task.get_name(), task.exception())
        self.stop(hard=True)
