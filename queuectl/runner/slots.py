"""A runner's worker slots: each claimed job from its start to its outcome in the outbox.

A slot is busy while the job's work runs. Once it ends, the slot is free: the outcome
(with the job's last output) goes to the outbox, which the dispatch loop writes with
its next claim. The runner can interrupt a job's work: to give the job back (hard
stop), to cancel it, or because another runner took it over (its claim was ``lost``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from queuectl.domain.models import Job, Outcome
from queuectl.domain.retry import RetryPolicy
from queuectl.runner.capture import FLUSH_INTERVAL, OutputCapture
from queuectl.runner.events import JobEvent
from queuectl.runner.executor import Execution, Executor
from queuectl.runner.outbox import Outbox, Recording
from queuectl.runner.outcomes import INTERRUPTIONS, finish_for

__all__ = ["Slots"]

log = logging.getLogger("queuectl.runner")


class _Slot:
    __slots__ = ("capture", "execution", "interrupted", "job", "started")

    def __init__(self, job: Job, capture: OutputCapture | None) -> None:
        self.job = job
        self.started = time.monotonic()
        self.capture = capture
        self.execution: Execution | None = None
        #: Set when the runner itself interrupts the work: "shutdown", "cancel", "lost".
        self.interrupted: str | None = None


class Slots:
    """The jobs a runner holds. ``on_change`` is called when the outbox has more to
    write (an outcome, or output to flush): the dispatch loop's cue."""

    def __init__(
        self,
        executor: Executor,
        outbox: Outbox,
        policy: RetryPolicy,
        *,
        output_limit: int,
        on_change: Callable[[], None],
    ) -> None:
        self._executor = executor
        self._outbox = outbox
        self._policy = policy
        self._output_limit = output_limit if executor.captures_output else 0
        self._on_change = on_change
        self._running: dict[str, _Slot] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._emptied: asyncio.Event | None = None  # set when the last job ends (abandon)
        #: Interrupt every job started from now on (a hard stop is under way).
        self.hard = False

    @property
    def busy(self) -> int:
        """Slots taken by jobs whose work runs."""
        return len(self._running)

    def running(self) -> Iterator[str]:
        """Ids of the jobs whose work runs."""
        return iter(list(self._running))

    def start(self, job: Job) -> None:
        capture = None
        if self._output_limit:
            capture = OutputCapture(job.id, job.token, self._output_limit)
            if self._flush is None:
                self._flush = asyncio.get_running_loop().call_later(
                    FLUSH_INTERVAL, self._flush_output
                )
        slot = self._running[job.id] = _Slot(job, capture)
        slot.execution = self._executor.start(job, capture, lambda o: self._ended(slot, o))
        if self.hard:
            self._interrupt(slot, "shutdown")

    def interrupt(self, job_id: str, why: str) -> None:
        """End a running job's work: ``shutdown``, ``cancel``, or ``lost``."""
        slot = self._running.get(job_id)
        if slot is not None:
            self._interrupt(slot, why)

    def output_lost(self, attempts: set[tuple[str, int]], reason: str) -> None:
        """The store could not take output of these attempts (see ``OutputCapture.lose``)."""
        for job_id, token in attempts:
            slot = self._running.get(job_id)
            if slot is not None and slot.capture is not None and slot.job.token == token:
                slot.capture.lose(reason)

    def interrupt_all(self, why: str) -> None:
        for slot in list(self._running.values()):
            self._interrupt(slot, why)

    def _interrupt(self, slot: _Slot, why: str) -> None:
        if slot.interrupted is None:
            slot.interrupted = why
            if slot.execution is not None:
                slot.execution.interrupt()

    def _ended(self, slot: _Slot, outcome: Outcome) -> None:
        job = slot.job
        del self._running[job.id]
        slot.execution = None  # its callback refers back to the slot: no cycle left
        outputs = slot.capture.drain() if slot.capture is not None else []
        if slot.interrupted == "lost":
            log.warning("job %s was taken over by another runner; result dropped", job.id)
            self._outbox.add_outputs(outputs)
        else:
            if slot.interrupted is not None:
                outcome = INTERRUPTIONS.get(slot.interrupted, INTERRUPTIONS["shutdown"])
            t, finish = finish_for(job, outcome, self._policy)
            after = job._replace(
                state=t.state,
                attempts=job.attempts - (0 if t.counted else 1),
                exit_code=t.exit_code,
                last_error=t.last_error,
                runner_id=None,
                lease_until=None,
            )
            event = JobEvent(after, t.state, outcome, time.monotonic() - slot.started)
            self._outbox.add(Recording(finish, event), outputs)
        if self._emptied is not None and not self._running:
            self._emptied.set()
        self._on_change()

    def _flush_output(self) -> None:
        """Hand the running jobs' new output to the outbox, every FLUSH_INTERVAL."""
        self._flush = None
        captures = [s.capture for s in self._running.values() if s.capture is not None]
        writes = [write for capture in captures for write in capture.drain()]
        if writes:
            self._outbox.add_outputs(writes)
            self._on_change()
        if captures:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self._flush_output)

    async def abandon(self, within: float) -> None:
        """The runner failed: end every job's work (nothing records it; the jobs are
        recovered as those of a dead runner), waiting up to ``within`` seconds."""
        self.interrupt_all("shutdown")
        if self._running:
            self._emptied = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), within)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
