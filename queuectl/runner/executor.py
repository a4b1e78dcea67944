"""Run one job's command: ``/bin/sh -c`` in its own session, with a timeout and a kill.

The command's process group is the unit of control: on timeout or cancellation the
whole group gets SIGTERM, then SIGKILL after a grace period, and whatever the command
left running in its group when it exits is killed, so no job leaves processes behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping

from queuectl.domain.models import SUCCESS, Job, Outcome
from queuectl.host.procinfo import group_alive, signal_group
from queuectl.runner.process import Child, Spawner

__all__ = [
    "STDERR_TAIL",
    "OutputSink",
    "ShellExecutor",
    "Tail",
    "describe_exit",
    "exit_outcome",
    "job_variables",
    "runner_env",
]

#: How much of the end of stderr is kept in ``last_error``.
STDERR_TAIL = 4096

#: The variables that tell a command which job and attempt it is.
_JOB_VARIABLES = ("QUEUECTL_JOB_ID", "QUEUECTL_ATTEMPT", "QUEUECTL_CLAIM")

#: Receives a job's output as it is produced: ``sink(stream, data)``, stream 1 or 2.
OutputSink = Callable[[int, bytes], None]


class Tail:
    """Keeps the last ``size`` bytes of a stream, whatever its length."""

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


def job_variables(job: Job) -> dict[str, str]:
    """The variables that tell a command which job and attempt it is."""
    return {
        "QUEUECTL_JOB_ID": job.id,
        "QUEUECTL_ATTEMPT": str(job.attempts),
        "QUEUECTL_CLAIM": f"{job.id}:{job.token}",
    }


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


class ShellExecutor:
    """The default ``execute``: runs ``job.command`` with ``/bin/sh -c``.

    ``sinks`` (optional) gives each job a callable that receives its stdout and
    stderr as they are written; without it stdout is discarded and only the tail of
    stderr is kept, for ``last_error``.
    """

    def __init__(
        self,
        *,
        runner_id: str,
        default_timeout: float | None = None,
        kill_grace: float = 5.0,
        env: Mapping[str, str] | None = None,
        spawner: Spawner | None = None,
        sinks: Callable[[Job], OutputSink] | None = None,
    ) -> None:
        self.default_timeout = default_timeout
        self.kill_grace = kill_grace
        self._env = runner_env(runner_id, env)
        self._spawner = spawner or Spawner()
        self._sinks = sinks

    async def __call__(self, job: Job) -> Outcome:
        job_env = job_variables(job)
        sink = None if self._sinks is None else self._sinks(job)
        try:
            child = await self._spawner.spawn(
                job.command, self._env, job_env, capture_stdout=sink is not None
            )
        except OSError as exc:
            return Outcome(exit_code=None, reason="error", error=f"could not start: {exc}")
        tail = Tail(STDERR_TAIL)

        def on_output(stream: int, data: bytes) -> None:
            if stream == 2:
                tail.add(data)
            if sink is not None:
                sink(stream, data)

        child.read_output(on_output)
        timeout = job.timeout if job.timeout is not None else self.default_timeout
        timed_out = False
        try:
            try:
                async with asyncio.timeout(timeout):
                    await child.wait()
            except TimeoutError:
                timed_out = True
                await self._terminate(child)
        except asyncio.CancelledError:
            await self._terminate(child)
            raise
        finally:
            # Whatever the command left in its group goes with it.
            signal_group(child.pid, signal.SIGKILL)
            await child.close()
        assert child.returncode is not None
        return exit_outcome(child.returncode, timed_out, timeout, tail.text())

    async def _terminate(self, child: Child) -> None:
        """SIGTERM the group, wait up to the grace period for all of it, then SIGKILL."""
        if signal_group(child.pid, signal.SIGTERM):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.kill_grace
            while loop.time() < deadline:
                if child.returncode is not None and not group_alive(child.pid):
                    break
                await asyncio.sleep(0.02)
            signal_group(child.pid, signal.SIGKILL)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(child.wait())

    def close(self) -> None:
        self._spawner.close()


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
        return Outcome(exit_code=None, reason="exit", signal=-returncode, error=error)
    return Outcome(exit_code=returncode, reason="exit", error=error)
