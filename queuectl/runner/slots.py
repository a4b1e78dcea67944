"""A runner's worker slots: one task per claimed job, from its command to its outcome.

A slot is busy while the job's command runs. Once the command ends the slot is free:
the job's output is flushed and its outcome handed to the outbox, which the dispatch
loop writes together with its next claim. The runner can interrupt a command: to give
the job back (hard stop), to cancel it, or because another runner took it over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from queuectl.domain.models import SUCCESS, Job, Outcome
from queuectl.runner.capture import OutputCapture, OutputWriter
from queuectl.runner.events import JobEvent
from queuectl.runner.outcomes import INTERRUPTIONS, finish_for

if TYPE_CHECKING:
    from queuectl.runner.lifecycle import Runner

__all__ = ["Execute", "Slots"]

log = logging.getLogger("queuectl.runner")

#: Runs one job; returns its Outcome (None means success) or raises (a failed attempt).
Execute = Callable[[Job], Awaitable[Outcome | None]]


@dataclass(slots=True)
class _Active:
    job: Job
    started: float = field(default_factory=time.monotonic)
    exec_task: asyncio.Task[Outcome] | None = None
    #: Set when the runner itself interrupts the command: "shutdown", "cancel", "lost".
    interrupted: str | None = None
    capture: OutputCapture | None = None


class Slots:
    def __init__(self, runner: Runner, execute: Execute, writer: OutputWriter) -> None:
        self._runner = runner
        self._execute = execute
        self._writer = writer
        #: Jobs whose command runs (each holds a slot).
        self._running: dict[str, _Active] = {}
        #: Every job task, including those recording an outcome after their command.
        self._tasks: set[asyncio.Task[None]] = set()
        #: Interrupt every job started from now on (a hard stop is under way).
        self.hard = False

    @property
    def busy(self) -> int:
        """Slots taken by running commands."""
        return len(self._running)

    @property
    def idle(self) -> bool:
        """No job anywhere between its claim and its recorded outcome."""
        return not self._tasks

    def running(self) -> Iterator[str]:
        """Ids of the jobs whose command runs."""
        return iter(list(self._running))

    def start(self, job: Job) -> None:
        active = _Active(job)
        self._running[job.id] = active
        task = asyncio.create_task(self._work(active), name=f"queuectl-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self.hard:
            self._interrupt(active, "shutdown")

    def interrupt(self, job_id: str, why: str) -> None:
        """End a running job's command: ``shutdown``, ``cancel``, or ``lost``."""
        active = self._running.get(job_id)
        if active is not None:
            self._interrupt(active, why)

    def interrupt_all(self, why: str) -> None:
        for active in list(self._running.values()):
            self._interrupt(active, why)

    def _interrupt(self, active: _Active, why: str) -> None:
        if active.interrupted is None:
            active.interrupted = why
            if active.exec_task is not None:
                active.exec_task.cancel()

    def capture(self, job: Job) -> OutputCapture:
        """The output sink of a job's command (ShellExecutor asks for one per job)."""
        capture = OutputCapture(job.id, job.token, self._runner.settings.output_limit)
        self._writer.add(capture)
        active = self._running.get(job.id)
        if active is not None:
            active.capture = capture
        return capture

    async def _work(self, active: _Active) -> None:
        runner, job = self._runner, active.job
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
                outcome = INTERRUPTIONS.get(active.interrupted, INTERRUPTIONS["shutdown"])
            # The slot is free now; the dispatch loop claims for it when it writes this
            # outcome (the submit below wakes it), in the same statement.
            self._running.pop(job.id, None)
            if active.capture is not None:
                await self._writer.finish(active.capture)
            if active.interrupted == "lost":
                log.warning("job %s was taken over by another runner; result dropped", job.id)
                return
            t, finish = finish_for(job, outcome, runner.policy)
            if await runner.outbox.submit(finish):
                runner.stats.count(t.state)
                runner.emit(JobEvent(job, t.state, outcome, time.monotonic() - active.started))
            else:
                log.warning("job %s: claim lost before its outcome was recorded; dropped", job.id)
        finally:
            self._running.pop(job.id, None)
            # Now, not in a done callback: the dispatch loop looks at the tasks when woken.
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            runner.wake()

    async def _call_execute(self, job: Job) -> Outcome:
        try:
            result = await self._execute(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return Outcome(exit_code=None, reason="error", error=f"{type(exc).__name__}: {exc}")
        return SUCCESS if result is None else result
