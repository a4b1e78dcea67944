"""Starting and reaping child processes fast on any event loop, uvloop included.

uvloop's own subprocess support forks the whole process and runs its after-fork hooks
while the loop is blocked (a few hundred spawns a second on two cores). Here a child is
started with vfork (subprocess's own helper, ``queuectl.runner.vfork_spawn``, else glibc's
``posix_spawn`` through ``queuectl.runner.libc_spawn``), in its own session, with its stdio
wired to /dev/null and pipes. On Linux with glibc the start runs on one thread of its
own with the GIL free (``queuectl.runner.spawn_thread``): neither the loop nor the store's
thread waits for the child's exec. Elsewhere ``os.posix_spawn``
runs on the loop, or ``subprocess.Popen`` (also vfork) where posix_spawn cannot start a
session. A pool of spawning threads measured slower than either: its threads contend
for the GIL. Exits are watched through a pidfd (Linux ≥ 5.3; a waiting thread
elsewhere) and output pipes are read as they become readable, both through one epoll
set on the loop (``queuectl.runner.readiness``). Measured with
``python -m benchmarks --only dispatch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from typing import NamedTuple

from queuectl.runner import libc_spawn, vfork_spawn
from queuectl.runner.readiness import Readiness
from queuectl.runner.spawn_thread import SpawnThread

__all__ = ["Child", "Spawner"]

_READ = 65536
_SHELL = "/bin/sh"
_SHELL_BYTES = os.fsencode(_SHELL)
# Python ignores these for itself, and an ignored signal stays ignored across exec: a
# command would see EPIPE instead of dying of SIGPIPE (``yes | head`` would complain).
# Children get the defaults back, as subprocess's ``restore_signals`` does.
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)


class Child:
    """A started command: its pid (also its process group), its pipes and its exit."""

    def __init__(
        self,
        pid: int,
        pipes: dict[int, int],
        readiness: Readiness,
        reap: Callable[[bool], int | None],
    ) -> None:
        self.pid = pid
        self._readiness = readiness
        self._loop = loop = readiness.loop
        self._reap = reap  # reap(block) -> exit code (negative: killed by that signal)
        self.returncode: int | None = None
        self._exited: asyncio.Future[None] = loop.create_future()
        self._pipes = pipes  # fd -> stream number (1 stdout, 2 stderr), ours to close
        self._reading: dict[int, int] = {}
        self._drained: asyncio.Future[None] | None = None
        self._watch_exit()

    def _watch_exit(self) -> None:
        pidfd_open = getattr(os, "pidfd_open", None)
        try:
            if pidfd_open is None:
                raise OSError("no pidfd")
            fd = pidfd_open(self.pid)
        except OSError:
            # No pidfds here: a thread waits for the exit instead.
            waiter = self._loop.run_in_executor(None, self._reap, True)
            waiter.add_done_callback(self._waited)
            return
        self._readiness.add(fd, lambda: self._pidfd_ready(fd))

    def _waited(self, future: asyncio.Future[int | None]) -> None:
        self.returncode = future.result()
        self._set_exited()

    def _pidfd_ready(self, fd: int) -> None:
        self._readiness.remove(fd)
        os.close(fd)
        code = self._reap(False)  # the pidfd says it exited: the zombie is there
        self.returncode = code if code is not None else self._reap(True)
        self._set_exited()

    def _set_exited(self) -> None:
        if not self._exited.done():
            self._exited.set_result(None)

    async def wait(self) -> int:
        await asyncio.shield(self._exited)
        assert self.returncode is not None
        return self.returncode

    def read_output(self, on_output: Callable[[int, bytes], None]) -> None:
        """Deliver stdout/stderr chunks to ``on_output(stream, data)`` until EOF."""
        self._drained = self._loop.create_future()
        for fd, stream in self._pipes.items():
            self._reading[fd] = stream
            self._readiness.add(fd, self._reader(fd, on_output))
        if not self._reading:
            self._drained.set_result(None)

    def _reader(self, fd: int, on_output: Callable[[int, bytes], None]) -> Callable[[], None]:
        stream = self._reading[fd]

        def readable() -> None:
            # One read per readiness: readiness is level-triggered, so it comes again
            # while data remains, and a read after readiness cannot block: the pipes
            # need no O_NONBLOCK (two fcntl calls each, thousands of times a second).
            try:
                data = os.read(fd, _READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if data:
                on_output(stream, data)
            else:
                self._stop_reading(fd)

        return readable

    def _stop_reading(self, fd: int) -> None:
        self._readiness.remove(fd)
        del self._reading[fd]
        if not self._reading and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def close(self, drain_timeout: float = 1.0) -> None:
        """Wait for the pipes to reach EOF (briefly: an escaped process may hold them)."""
        if self._drained is not None and not self._drained.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drained), drain_timeout)
        for fd in list(self._reading):
            self._stop_reading(fd)
        for fd in self._pipes:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._pipes = {}


class _Start(NamedTuple):
    command: str
    env: list[bytes]
    extra_env: Mapping[str, str]
    capture_stdout: bool


#: A started child: its pid and its output pipes (read end -> stream number).
_Started = tuple[int, dict[int, int]]


class Spawner:
    """Starts ``/bin/sh -c COMMAND`` children in their own session, stdin on /dev/null.

    Where glibc allows (``libc_spawn``), children start on a thread of their own
    (``spawn_thread``, with ``vfork_spawn`` where that works); elsewhere with
    ``os.posix_spawn`` on the loop, or ``Popen``.
    """

    def __init__(self) -> None:
        self._devnull: int | None = None
        self._readiness: Readiness | None = None
        # Loaded at the first spawn: ctypes and the attributes cost ~8 ms of start-up.
        self._libc: libc_spawn.LibcSpawn | None = None
        self._libc_loaded = False
        self._vfork: vfork_spawn.VforkSpawn | None = None  # start_now's, when it works
        self._vfork_loaded = False
        self._thread: SpawnThread[_Start, _Started] | None = None
        self._env_blocks = libc_spawn.EnvBlocks()
        self._posix_spawn = hasattr(os, "posix_spawn") and hasattr(os, "POSIX_SPAWN_DUP2")

    async def spawn(
        self,
        command: str,
        env: Mapping[str, str],
        extra_env: Mapping[str, str] | None = None,
        *,
        capture_stdout: bool = False,
    ) -> Child:
        """Start ``command`` with ``env`` and ``extra_env`` over it.

        Pass the same ``env`` object each time and only what changes in ``extra_env``:
        ``env`` is encoded once and kept while it is the one given.
        """
        loop = asyncio.get_running_loop()
        readiness = self._readiness_for(loop)
        if self.can_start_now():
            if self._thread is None or self._thread.loop is not loop:
                self._close_thread()
                self._thread = SpawnThread(loop, self._start, _orphan)
            pid, pipes = await self._thread.submit(
                self._request(command, env, extra_env, capture_stdout)
            )
            return Child(pid, pipes, readiness, lambda block: _waitpid(pid, block))
        if extra_env:
            env = {**env, **extra_env}
        if self._posix_spawn:
            try:
                return self._spawn(command, env, capture_stdout, readiness)
            except NotImplementedError:  # no way to start a session this way here
                self._posix_spawn = False
        return _popen(command, env, capture_stdout, readiness)

    def start_now(
        self,
        command: str,
        env: Mapping[str, str],
        extra_env: Mapping[str, str],
        *,
        capture_stdout: bool = False,
    ) -> tuple[int, dict[int, int]]:
        """Start ``command`` on the calling thread: its pid and its output pipes.

        For a caller that reaps and reads by itself (the shell core's thread), with the
        same session, signals, stdio and environment as ``spawn``. Only where glibc's
        ``posix_spawn`` can be called directly (``libc_spawn``): NotImplementedError
        elsewhere.
        """
        if not self.can_start_now():
            raise NotImplementedError("starting children this way needs glibc 2.26 or newer")
        return self._start(self._request(command, env, extra_env, capture_stdout))

    def can_start_now(self) -> bool:
        """Whether ``start_now`` works here (loads what it needs, as a first spawn would).

        Both it and the spawning thread use ``vfork_spawn`` where that works (less CPU
        a child than ``libc_spawn``), else ``libc_spawn``.
        """
        self._prepare()
        if not self._vfork_loaded:
            self._vfork, self._vfork_loaded = vfork_spawn.load(), True
        return self._libc is not None

    def _prepare(self) -> None:
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        if not self._libc_loaded:
            self._libc, self._libc_loaded = libc_spawn.load(_DEFAULT_SIGNALS), True

    def _request(
        self,
        command: str,
        env: Mapping[str, str],
        extra_env: Mapping[str, str] | None,
        capture_stdout: bool,
    ) -> _Start:
        extra_env = extra_env or {}
        if any(name in env for name in extra_env):
            env, extra_env = {**env, **extra_env}, {}  # the first of two entries wins
        return _Start(command, self._env_blocks(env), extra_env, capture_stdout)

    def _readiness_for(self, loop: asyncio.AbstractEventLoop) -> Readiness:
        readiness = self._readiness
        if readiness is None or readiness.loop is not loop:
            self._close_readiness()
            readiness = self._readiness = Readiness(loop)
        return readiness

    def _close_readiness(self) -> None:
        if self._readiness is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed already
                self._readiness.close()
            self._readiness = None

    def _close_thread(self) -> None:
        if self._thread is not None:
            self._thread.close()
            self._thread = None

    def _start(self, start: _Start) -> _Started:
        """Pipes, then the child, with ``vfork_spawn`` or else ``libc_spawn``.

        On the spawning thread or the core's, once ``can_start_now`` said yes; the GIL
        is free while the child execs.
        """
        devnull, spawner = self._devnull, self._vfork or self._libc
        assert spawner is not None
        assert devnull is not None
        extra = libc_spawn.env_block(start.extra_env)
        argv = [_SHELL_BYTES, b"-c", os.fsencode(start.command)]
        return self._with_pipes(
            start.capture_stdout,
            lambda stdout, stderr: spawner.spawn(
                _SHELL_BYTES, argv, start.env, (devnull, stdout, stderr), extra
            ),
        )

    def _with_pipes(self, capture_stdout: bool, start: Callable[[int, int], int]) -> _Started:
        """Run ``start(stdout, stderr)`` with fresh pipes; the pid and our read ends."""
        assert self._devnull is not None
        err_r, err_w = os.pipe()  # both close-on-exec; dup2 makes the child's copy inherit
        out_r, out_w = -1, self._devnull
        try:
            if capture_stdout:
                out_r, out_w = os.pipe()  # out of descriptors: err's pipe is closed below
            pid = start(out_w, err_w)
        except BaseException:
            for fd in (err_r, out_r):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            os.close(err_w)
            if out_r >= 0:
                os.close(out_w)
        pipes = {err_r: 2}
        if out_r >= 0:
            pipes[out_r] = 1
        return pid, pipes

    def _spawn(
        self,
        command: str,
        env: Mapping[str, str],
        capture_stdout: bool,
        readiness: Readiness,
    ) -> Child:
        devnull = self._devnull
        assert devnull is not None

        def start(stdout: int, stderr: int) -> int:
            return os.posix_spawn(
                _SHELL,
                [_SHELL, "-c", command],
                env,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, stdout, 1),
                    (os.POSIX_SPAWN_DUP2, stderr, 2),
                ],
                setsid=True,
                setsigdef=_DEFAULT_SIGNALS,
            )

        pid, pipes = self._with_pipes(capture_stdout, start)
        return Child(pid, pipes, readiness, lambda block: _waitpid(pid, block))

    def close(self) -> None:
        self._close_thread()
        self._close_readiness()
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None


def _orphan(started: _Started) -> None:
    """Dispose of a child whose submitter went away: kill its group, reap it aside."""
    pid, pipes = started
    for fd in pipes:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    threading.Thread(target=_waitpid, args=(pid, True), daemon=True).start()


def _waitpid(pid: int, block: bool) -> int | None:
    """Reap ``pid``; its exit code (negative for a signal), or None if it still runs."""
    try:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler): the code is lost
        return -1
    return os.waitstatus_to_exitcode(status) if done else None


def _popen(
    command: str, env: Mapping[str, str], capture_stdout: bool, readiness: Readiness
) -> Child:
    proc = subprocess.Popen(
        [_SHELL, "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own session and process group
        env=env,
        close_fds=True,
    )
    pipes = {}
    for stream, pipe in ((1, proc.stdout), (2, proc.stderr)):
        if pipe is not None:
            pipes[os.dup(pipe.fileno())] = stream
            pipe.close()

    def reap(block: bool) -> int | None:
        return proc.wait() if block else proc.poll()

    return Child(proc.pid, pipes, readiness, reap)
