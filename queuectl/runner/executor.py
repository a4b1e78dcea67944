"""How a runner runs one job: the executor interface, and Python ``execute`` functions.

An executor starts a job's work and reports its Outcome through a callback once the
work is over; the runner may interrupt it meanwhile (cancel, hard stop, a claim taken
over). Shell commands are ``ShellExecutor`` (``shell.py``); a Python coroutine function
given as ``execute`` runs as a task through ``CoroutineExecutor``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from queuectl.domain.models import SUCCESS, Job, Outcome

__all__ = [
    "CoroutineExecutor",
    "Done",
    "Execute",
    "Execution",
    "Executor",
    "OutputSink",
]

#: Runs one job; returns its Outcome (None means success) or raises (a failed attempt).
Execute = Callable[[Job], Awaitable[Outcome | None]]

#: Receives what the work produced, once, when it is over.
Done = Callable[[Outcome], None]

#: Receives a job's output as it is produced: ``sink(stream, data)``, stream 1 or 2.
OutputSink = Callable[[int, bytes], None]


class Execution(Protocol):
    """Work under way for one job."""

    def interrupt(self) -> None:
        """End the work now; ``done`` is still called, once it has ended."""


class Executor(Protocol):
    #: Whether the work produces output worth keeping (the runner then gives a sink).
    captures_output: bool

    def start(self, job: Job, sink: OutputSink | None, done: Done) -> Execution:
        """Start ``job``'s work; ``done`` is called later (never from within ``start``)."""
        ...

    def close(self) -> None:
        """Release what the executor holds; called once its runner has stopped."""
        ...


class CoroutineExecutor:
    """Runs an ``execute`` coroutine function as one task per job."""

    captures_output = False

    def __init__(self, execute: Execute) -> None:
        self._execute = execute

    def start(self, job: Job, sink: OutputSink | None, done: Done) -> Execution:
        task = asyncio.get_running_loop().create_task(
            self._call(job), name=f"queuectl-job-{job.id}"
        )
        task.add_done_callback(lambda t: done(_result(t)))
        return _TaskExecution(task)

    async def _call(self, job: Job) -> Outcome:
        try:
            result = await self._execute(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return Outcome(exit_code=None, reason="error", error=f"{type(exc).__name__}: {exc}")
        return SUCCESS if result is None else result

    def close(self) -> None:
        pass


class _TaskExecution:
    __slots__ = ("_task",)

    def __init__(self, task: asyncio.Task[Outcome]) -> None:
        self._task = task

    def interrupt(self) -> None:
        self._task.cancel()


def _result(task: asyncio.Task[Outcome]) -> Outcome:
    if task.cancelled():
        # Only an interruption cancels it, and the runner records that instead.
        return Outcome(exit_code=None, reason="shutdown", error="interrupted")
    error = task.exception()  # only a BaseException that is not an Exception gets here
    if error is not None:
        return Outcome(exit_code=None, reason="error", error=f"{type(error).__name__}: {error}")
    return task.result()
