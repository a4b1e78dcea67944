"""The dispatch loop: a runner's one writer of outcomes and its one claimer of jobs.

Each round trip writes what the outbox holds and claims as many jobs as there are free
slots (never more, so other runners are not starved), in one transaction
(``Store.exchange``). It sleeps when there is nothing to do, until a wake-up, the
earliest scheduled ``run_at``, the fallback poll or a stop. Stopped, it claims nothing
more and returns once every job it holds is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from queuectl.domain.errors import StoreError
from queuectl.domain.models import RUNNABLE_STATES, Job, JobState
from queuectl.runner.observations import Observations
from queuectl.runner.outbox import Batch, Outbox, Recording
from queuectl.runner.slots import Slots
from queuectl.store.base import Store

__all__ = ["Dispatcher", "Plan"]

log = logging.getLogger("queuectl.runner")

#: How long the loop pauses after a failed round trip before it tries again.
RETRY_PAUSE = 1.0


def loss_reason(exc: StoreError) -> str:
    """Why output that a store refused is not kept, in a few words for ``logs``."""
    text = str(exc).lower()
    if "is full" in text or "no space left" in text or "disk full" in text:
        return "disk full"
    return "the store refused it"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a runner claims, and how."""

    runner_id: str
    concurrency: int
    #: The named queues it consumes; empty means all of them.
    queues: tuple[str, ...]
    lease_seconds: float
    poll_interval: float
    #: Return once nothing is left to run (see ``_idle_timeout``).
    burst: bool


class Dispatcher:
    def __init__(
        self,
        store: Store,
        plan: Plan,
        slots: Slots,
        outbox: Outbox,
        on_recorded: Callable[[list[Recording], set[str]], None],
        on_output_lost: Callable[[set[tuple[str, int]], str], None],
        observations: Observations | None = None,
    ) -> None:
        self._store = store
        self._plan = plan
        self._slots = slots
        self._outbox = outbox
        self._on_recorded = on_recorded
        self._on_output_lost = on_output_lost
        self._observations = observations
        self._kick = asyncio.Event()
        self.stopping = False

    def wake(self) -> None:
        """Look again: an outcome or output to write, a slot freed, new jobs, a stop."""
        self._kick.set()

    def stop(self) -> None:
        self.stopping = True
        self._kick.set()

    async def run(self) -> None:
        """Write and claim until stopped and drained, or (burst) until nothing is left."""
        plan, slots, outbox = self._plan, self._slots, self._outbox
        idle = False  # the last claim found fewer runnable jobs than it asked for
        while True:
            self._kick.clear()
            batch = outbox.batch()
            free = 0 if self.stopping else plan.concurrency - slots.busy
            # Claim while there may be work; along with outcomes even when idle: they can
            # make jobs runnable (dependencies) and the claim shares their commit.
            claim = free if free > 0 and (batch.recordings or not idle) else 0
            if batch or claim:
                jobs = await self._exchange(batch, claim)
                if claim and jobs is not None:
                    idle = len(jobs) < claim
                continue
            if self.stopping:
                if slots.busy == 0:
                    return  # stopped and drained: every outcome is written
                await self._kick.wait()
            elif free <= 0:
                await self._kick.wait()  # a slot frees when its job's outcome is queued
            else:
                timeout = await self._idle_timeout()
                if timeout is None:
                    return  # burst: nothing left to run
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout)
                idle = False

    async def _exchange(self, batch: Batch, claim: int) -> list[Job] | None:
        """One store round trip; the claimed jobs, or None (after a pause) on failure."""
        plan = self._plan
        try:
            applied, jobs = await self._store.exchange(
                batch.finishes,
                plan.runner_id,
                claim,
                plan.lease_seconds,
                plan.queues or None,
                outputs=batch.outputs,
            )
        except StoreError as exc:
            reason = loss_reason(exc)
            lost = self._outbox.failed(batch, reason)
            log.warning("recording outcomes or claiming failed, retrying: %s", exc)
            if lost:
                # Try again at once without that output: the outcomes must not wait.
                self._on_output_lost(lost, reason)
            else:
                await asyncio.sleep(RETRY_PAUSE)
            return None
        self._outbox.written(batch)
        if batch.recordings:
            self._on_recorded(batch.recordings, applied)
        if jobs and self._observations is not None:
            self._observations.claimed(jobs)
        for job in jobs:
            self._slots.start(job)
        return jobs

    async def _idle_timeout(self) -> float | None:
        """How long to sleep when nothing is runnable now; None ends a burst run."""
        plan, store = self._plan, self._store
        queues = plan.queues or None
        try:
            if plan.burst and self._slots.busy == 0:
                # Burst waits for retries of failed jobs but not for scheduled ones.
                next_at = await store.next_run_at(
                    states=frozenset({JobState.FAILED}), queues=queues
                )
                if next_at is None:
                    return None
                return max(0.0, next_at - store.now())
            next_at = await store.next_run_at(states=RUNNABLE_STATES, queues=queues)
        except StoreError as exc:
            log.warning("reading the queue failed, retrying: %s", exc)
            return RETRY_PAUSE
        if next_at is None:
            return plan.poll_interval
        return min(plan.poll_interval, max(0.0, next_at - store.now()))
