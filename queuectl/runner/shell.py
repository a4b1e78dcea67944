"""Run one job's command: ``/bin/sh -c`` in its own session, with a timeout and a kill.

The command's process group is the unit of control: on timeout or interruption the
whole group gets SIGTERM, then SIGKILL once the group is gone or the grace period has
passed, and whatever the command left running in its group when it exits is killed,
so no job leaves processes behind.

Each attempt is a small state machine (``ShellRun``) driven by the loop's callbacks:
the child's output, its exit and the end of its output, and timers. It costs no task
and no future, which matters with thousands of short commands a second.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import stat
from collections.abc import Mapping

from queuectl.domain.models import SUCCESS, Job, Outcome
from queuectl.host.procinfo import group_alive
from queuectl.runner.executor import Done, OutputSink
from queuectl.runner.process import Child, Spawner

__all__ = [
    "STDERR_TAIL",
    "ShellExecutor",
    "Tail",
    "claim_value",
    "cwd_problem",
    "describe_exit",
    "exit_outcome",
    "job_variables",
    "runner_env",
]

#: How much of the end of stderr is kept in ``last_error``.
STDERR_TAIL = 4096
#: How long a command's pipes may stay open after it exits (a process that left its
#: group may hold them).
DRAIN = 1.0
#: How often a group that got SIGTERM is looked at until it is gone.
TERM_POLL = 0.02

#: The variables that tell a command which job and attempt it is.
_JOB_VARIABLES = ("QUEUECTL_JOB_ID", "QUEUECTL_ATTEMPT", "QUEUECTL_CLAIM")


class Tail:
    """Keeps the last ``size`` bytes of a stream, whatever its length."""

    __slots__ = ("cut", "data", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.data = bytearray()
        self.cut = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.size:
            del self.data[: len(self.data) - self.size]
            self.cut = True

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace").strip()
        return ("…" + text) if self.cut and text else text


def runner_env(runner_id: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a runner's commands, before each job's own variables."""
    base = dict(os.environ if env is None else env)
    base["QUEUECTL_RUNNER_ID"] = runner_id
    for name in _JOB_VARIABLES:  # set per job (a runner may itself run in a job)
        base.pop(name, None)
    return base


def cwd_problem(path: str) -> str | None:
    """Why a job's directory cannot be entered (its ``last_error``), or None.

    Looked at before the start, so both ways of starting fail alike and say so plainly;
    a directory removed between this look and the start fails the command's ``cd``.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cwd {path}: {exc.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"cwd {path}: {os.strerror(errno.ENOTDIR)}"
    if not os.access(path, os.X_OK):
        return f"cwd {path}: {os.strerror(errno.EACCES)}"
    return None


def claim_value(job_id: str, token: int, runner_id: str) -> str:
    """``QUEUECTL_CLAIM``: one claim of one job by one runner. The runner id makes it
    unique across stores, so that recovery on a host shared by several queues ends only
    the processes of the claim it gives back, not those of a same-named job elsewhere."""
    return f"{job_id}:{token}:{runner_id}"


def job_variables(job: Job, runner_id: str) -> dict[str, str]:
    """The variables that tell a command which job and attempt it is."""
    return {
        "QUEUECTL_JOB_ID": job.id,
        "QUEUECTL_ATTEMPT": str(job.attempts),
        "QUEUECTL_CLAIM": claim_value(job.id, job.token, runner_id),
    }


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


def exit_outcome(returncode: int, timed_out: bool, timeout: float | None, tail: str) -> Outcome:
    """What an attempt records once its command has exited (or was ended on timeout)."""
    if timed_out:
        reason = f"timed out after {timeout:g}s ({describe_exit(returncode)})"
        error = f"{reason}\n{tail}" if tail else reason
        sig = -returncode if returncode < 0 else None
        return Outcome(exit_code=None, reason="timeout", signal=sig, error=error)
    if returncode == 0:
        return SUCCESS
    reason = describe_exit(returncode)
    error = f"{reason}\n{tail}" if tail else reason
    if returncode < 0:
        return Outcome(exit_code=None, reason="signal", signal=-returncode, error=error)
    return Outcome(exit_code=returncode, reason="exit", error=error)


class ShellExecutor:
    """The default executor: runs ``job.command`` with ``/bin/sh -c``.

    ``env`` replaces the runner's environment (tests); ``pidfds`` False forces the
    start through asyncio's subprocess API, as on systems without pidfds.
    """

    captures_output = True

    def __init__(
        self,
        *,
        runner_id: str,
        default_timeout: float | None = None,
        kill_grace: float = 5.0,
        env: Mapping[str, str] | None = None,
        pidfds: bool | None = None,
    ) -> None:
        self.default_timeout = default_timeout
        self.kill_grace = kill_grace
        self.runner_id = runner_id
        self.spawner = Spawner(runner_env(runner_id, env), pidfds=pidfds)

    def start(self, job: Job, sink: OutputSink | None, done: Done) -> ShellRun:
        run = ShellRun(self, job, sink, done)
        run.start()
        return run

    async def __call__(self, job: Job, sink: OutputSink | None = None) -> Outcome:
        """Run ``job`` to its end (an ``Execute``); cancelling ends its command first."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def done(outcome: Outcome) -> None:
            if not future.done():
                future.set_result(outcome)

        run = self.start(job, sink, done)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            run.interrupt()
            await future
            raise

    def close(self) -> None:
        self.spawner.close()


class ShellRun:
    """One attempt of a shell job: started, maybe ended early, then over exactly once."""

    __slots__ = (
        "_child",
        "_done",
        "_drained",
        "_executor",
        "_finished",
        "_job",
        "_kill_at",
        "_loop",
        "_returncode",
        "_sink",
        "_tail",
        "_terminating",
        "_timed_out",
        "_timeout",
        "_timer",
    )

    def __init__(
        self, executor: ShellExecutor, job: Job, sink: OutputSink | None, done: Done
    ) -> None:
        self._executor = executor
        self._job = job
        self._sink = sink
        self._done = done
        self._loop = asyncio.get_running_loop()
        self._tail = Tail(STDERR_TAIL)
        self._timeout = job.timeout if job.timeout is not None else executor.default_timeout
        self._timed_out = False
        self._child: Child | None = None
        self._returncode: int | None = None
        self._drained = False
        #: SIGTERM was sent: the group is watched until it is gone or ``_kill_at``.
        self._terminating = False
        self._kill_at = 0.0
        #: The one timer that matters at each stage: the timeout while the command
        #: runs, the next look at a terminating group, then the end of the drain.
        self._timer: asyncio.TimerHandle | None = None
        self._finished = False

    def start(self) -> None:
        job = self._job
        variables = job_variables(job, self._executor.runner_id)
        if job.env:  # the job's own, under queuectl's
            variables = {**job.env, **variables, "QUEUECTL_RUNNER_ID": self._executor.runner_id}
        problem = None if job.cwd is None else cwd_problem(job.cwd)
        if problem is not None:
            self._loop.call_soon(
                self._finish, Outcome(exit_code=None, reason="error", error=problem)
            )
            return
        try:
            self._child = self._executor.spawner.start(
                job.command, variables, self, stdout=self._sink is not None, cwd=job.cwd
            )
        except (OSError, ValueError) as exc:  # ValueError: NUL bytes, a bad variable
            self._loop.call_soon(self.failed, exc)
            return
        if self._timeout is not None:
            self._timer = self._loop.call_later(self._timeout, self._on_timeout)

    # -- what the child reports (ChildEvents) ---------------------------------
    def output(self, stream: int, data: bytes) -> None:
        if stream == 2:
            self._tail.add(data)
        if self._sink is not None:
            self._sink(stream, data)

    def exited(self, returncode: int) -> None:
        if self._finished:
            return  # a late report of a child given up (its pipes held open)
        self._returncode = returncode
        if not self._terminating:
            self._after_exit()
        # else: the next look at the terminating group finds it gone

    def drained(self) -> None:
        self._drained = True
        self._maybe_finish()

    def failed(self, error: Exception) -> None:
        if not self._finished:
            self._finish(Outcome(exit_code=None, reason="error", error=f"could not start: {error}"))

    # -- ending it early ----------------------------------------------------
    def interrupt(self) -> None:
        """End the command (its group: SIGTERM, then SIGKILL), unless it has exited."""
        if self._returncode is None and not self._finished:
            self._terminate()

    def _on_timeout(self) -> None:
        self._timer = None
        if self._returncode is None and not self._terminating:
            self._timed_out = True
            self._terminate()

    def _terminate(self) -> None:
        if self._terminating or self._child is None:
            return
        self._terminating = True
        self._cancel_timer()
        sent = self._child.signal(signal.SIGTERM)
        self._kill_at = self._loop.time() + (self._executor.kill_grace if sent else 0.0)
        self._look_at_group()

    def _look_at_group(self) -> None:
        """While terminating: SIGKILL once the whole group is gone, or at the grace."""
        self._timer = None
        child = self._child
        assert child is not None
        gone = self._returncode is not None and (child.pid is None or not group_alive(child.pid))
        if not gone and self._loop.time() < self._kill_at:
            self._timer = self._loop.call_later(TERM_POLL, self._look_at_group)
            return
        child.signal(signal.SIGKILL)
        self._terminating = False
        if self._returncode is not None:
            self._after_exit()
        # else: it exits of the SIGKILL, and ``exited`` goes on from there

    # -- the end ----------------------------------------------------------------
    def _after_exit(self) -> None:
        self._cancel_timer()
        assert self._child is not None
        self._child.signal(signal.SIGKILL)  # whatever the command left in its group
        if not self._drained:
            self._timer = self._loop.call_later(DRAIN, self._drain_timeout)
        self._maybe_finish()

    def _drain_timeout(self) -> None:
        self._timer = None
        self._drained = True  # an escaped process holds the pipes: stop reading them
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._finished or self._returncode is None or self._terminating:
            return
        if not self._drained:
            return
        self._finish(
            exit_outcome(self._returncode, self._timed_out, self._timeout, self._tail.text())
        )

    def _finish(self, outcome: Outcome) -> None:
        self._finished = True
        self._cancel_timer()
        if self._child is not None:
            self._child.close()
            self._child = None  # it refers back to this run: freed now, not by the GC
        self._done(outcome)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
