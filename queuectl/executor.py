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
from collections.abc import Mapping

from queuectl.models import SUCCESS, Job, Outcome
from queuectl.procinfo import group_alive

__all__ = ["STDERR_TAIL", "ShellExecutor", "describe_exit"]

#: How much of the end of stderr is kept in ``last_error``.
STDERR_TAIL = 4096
_CHUNK = 65536


class _Tail:
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


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ShellExecutor:
    """The default ``execute``: runs ``job.command`` with ``/bin/sh -c``."""

    def __init__(
        self,
        *,
        runner_id: str,
        default_timeout: float | None = None,
        kill_grace: float = 5.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.default_timeout = default_timeout
        self.kill_grace = kill_grace
        self._env = dict(os.environ if env is None else env)
        self._env["QUEUECTL_RUNNER_ID"] = runner_id

    async def __call__(self, job: Job) -> Outcome:
        env = dict(self._env)
        env["QUEUECTL_JOB_ID"] = job.id
        env["QUEUECTL_ATTEMPT"] = str(job.attempts)
        env["QUEUECTL_CLAIM"] = f"{job.id}:{job.token}"
        starting = asyncio.ensure_future(_spawn(job.command, env))
        try:
            transport, protocol = await asyncio.shield(starting)
        except OSError as exc:
            return Outcome(exit_code=None, reason="error", error=f"could not start: {exc}")
        except asyncio.CancelledError:
            # Cancelled while starting: the shell may have forked already, and asyncio
            # would kill the shell alone. Let the start finish, then end the group.
            with contextlib.suppress(OSError):
                transport, protocol = await starting
                try:
                    await self._terminate(transport.get_pid(), protocol)
                finally:
                    _signal_group(transport.get_pid(), signal.SIGKILL)
                    transport.close()
            raise
        return await self._supervise(job, transport, protocol)

    async def _supervise(
        self, job: Job, transport: asyncio.SubprocessTransport, protocol: _ExitProtocol
    ) -> Outcome:
        """Wait for the command (or its timeout), collecting the tail of its stderr."""
        pid = transport.get_pid()
        tail = _Tail(STDERR_TAIL)
        assert protocol.stderr is not None
        reader = asyncio.create_task(_drain(protocol.stderr, tail))
        timeout = job.timeout if job.timeout is not None else self.default_timeout
        timed_out = False
        try:
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(protocol.exited)
            except TimeoutError:
                timed_out = True
                await self._terminate(pid, protocol)
        except asyncio.CancelledError:
            await self._terminate(pid, protocol)
            raise
        finally:
            # Whatever the command left in its group goes with it.
            _signal_group(pid, signal.SIGKILL)
            await _finish_reading(reader)
            transport.close()
        return _outcome(transport.get_returncode(), timed_out, timeout, tail.text())

    async def _terminate(self, pgid: int, protocol: _ExitProtocol) -> None:
        """SIGTERM the group, wait up to the grace period for all of it, then SIGKILL."""
        if _signal_group(pgid, signal.SIGTERM):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.kill_grace
            while loop.time() < deadline:
                if protocol.exited.done() and not group_alive(pgid):
                    break
                await asyncio.sleep(0.02)
            _signal_group(pgid, signal.SIGKILL)
        await asyncio.shield(protocol.exited)


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The usual stream protocol, plus a future that is done when the process exits.

    ``Process.wait()`` returns only once every pipe has closed (Python 3.11), so a
    background child still holding stderr would keep a finished command "running"
    for as long as that child lives. The exit is what a job's end is measured by.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=_CHUNK, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


async def _spawn(
    command: str, env: Mapping[str, str]
) -> tuple[asyncio.SubprocessTransport, _ExitProtocol]:
    """Start ``/bin/sh -c command`` in a new session (so its own process group)."""
    loop = asyncio.get_running_loop()
    return await loop.subprocess_exec(
        lambda: _ExitProtocol(loop),
        "/bin/sh",
        "-c",
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env=env,
    )


async def _drain(stream: asyncio.StreamReader, tail: _Tail) -> None:
    while chunk := await stream.read(_CHUNK):
        tail.add(chunk)


async def _finish_reading(reader: asyncio.Task[None]) -> None:
    # A process that escaped the group (setsid) may hold the pipe open: do not wait on it.
    try:
        await asyncio.wait_for(asyncio.shield(reader), 1.0)
    except TimeoutError:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def _outcome(returncode: int | None, timed_out: bool, timeout: float | None, tail: str) -> Outcome:
    assert returncode is not None
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
