"""Starting and reaping child processes fast on any event loop, uvloop included.

uvloop's own subprocess support forks the whole process and runs its after-fork hooks
while the loop is blocked (a few hundred spawns a second on two cores). Here the
``subprocess`` module starts children from a small thread pool (it uses vfork where it
can), exits are watched through a pidfd on the loop (Linux ≥ 5.3; a waiting thread
elsewhere), and output pipes are read with non-blocking reads on the loop. Measured
with ``python -m benchmarks --only dispatch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

__all__ = ["Child", "Spawner"]

_READ = 65536


class Child:
    """A started command: its pid (also its process group) and its exit."""

    def __init__(self, proc: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._proc = proc
        self._loop = loop
        self.pid = proc.pid
        self._exited: asyncio.Future[None] = loop.create_future()
        self._pipes: dict[int, int] = {}  # fd -> stream number (1 stdout, 2 stderr)
        self._drained: asyncio.Future[None] | None = None
        self._watch_exit()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def _watch_exit(self) -> None:
        pidfd_open = getattr(os, "pidfd_open", None)
        try:
            if pidfd_open is None:
                raise OSError("no pidfd")
            fd = pidfd_open(self.pid)
        except OSError:
            # No pidfds here: a thread waits for the exit instead.
            waiter = self._loop.run_in_executor(None, self._proc.wait)
            waiter.add_done_callback(lambda _: self._set_exited())
            return
        self._loop.add_reader(fd, self._pidfd_ready, fd)

    def _pidfd_ready(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        os.close(fd)
        self._proc.poll()  # reaps the zombie and sets returncode
        if self._proc.returncode is None:  # pragma: no cover - pidfd said it exited
            self._proc.wait()
        self._set_exited()

    def _set_exited(self) -> None:
        if not self._exited.done():
            self._exited.set_result(None)

    async def wait(self) -> int:
        await asyncio.shield(self._exited)
        assert self._proc.returncode is not None
        return self._proc.returncode

    def read_output(self, on_output: Callable[[int, bytes], None]) -> None:
        """Deliver stdout/stderr chunks to ``on_output(stream, data)`` until EOF."""
        self._drained = self._loop.create_future()
        for stream, pipe in ((1, self._proc.stdout), (2, self._proc.stderr)):
            if pipe is None:
                continue
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            self._pipes[fd] = stream
            self._loop.add_reader(fd, self._readable, fd, on_output)
        if not self._pipes:
            self._drained.set_result(None)

    def _readable(self, fd: int, on_output: Callable[[int, bytes], None]) -> None:
        stream = self._pipes[fd]
        while True:
            try:
                data = os.read(fd, _READ)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._stop_reading(fd)
                return
            on_output(stream, data)

    def _stop_reading(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        del self._pipes[fd]
        if not self._pipes and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def close(self, drain_timeout: float = 1.0) -> None:
        """Wait for the pipes to reach EOF (briefly: an escaped process may hold them)."""
        if self._drained is not None and not self._drained.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drained), drain_timeout)
        for fd in list(self._pipes):
            self._stop_reading(fd)
        for pipe in (self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                pipe.close()


class Spawner:
    """Starts ``/bin/sh -c COMMAND`` children from a few threads."""

    def __init__(self, threads: int = 4) -> None:
        self._pool = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="queuectl-spawn")
            if threads
            else None
        )

    async def spawn(
        self, command: str, env: Mapping[str, str], *, capture_stdout: bool = False
    ) -> Child:
        loop = asyncio.get_running_loop()
        if self._pool is None:
            return Child(_popen(command, env, capture_stdout), loop)
        started = loop.run_in_executor(self._pool, _popen, command, env, capture_stdout)
        try:
            proc = await asyncio.shield(started)
        except asyncio.CancelledError:
            # Cancelled while the thread was starting it: do not leave it running.
            with contextlib.suppress(OSError):
                child = Child(await started, loop)
                os.killpg(child.pid, signal.SIGKILL)
                await child.wait()
                await child.close()
            raise
        return Child(proc, loop)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def _popen(command: str, env: Mapping[str, str], capture_stdout: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own session and process group
        env=env,
        close_fds=True,
    )
