"""Starting a command's process from the event loop, and hearing what it does.

Where Linux gives pidfds (5.3 and newer), ``os.posix_spawn`` starts ``/bin/sh -c --``
directly from the loop: glibc starts the child with a vfork-like clone, so the loop
waits only until the child has exec'd, and the call leaves the GIL free meanwhile (the
store's thread goes on). The child's pidfd and output pipes are then watched through
one epoll set on the loop (``Readiness``). Elsewhere (macOS, older kernels) asyncio's
own subprocess API starts it, and the loop's child watcher reports its exit.

Either way the child leads a session and process group of its own (the unit the
runner signals), gets stdin on /dev/null, SIGPIPE and SIGXFSZ at their defaults, and
inherits no descriptor of the runner but its three standard streams (Python opens every
descriptor close-on-exec). The pidfd way also starts it with no signal blocked; asyncio's
way leaves it the mask of the loop's thread, as it has no means to set one. The owner
hears of the child through ``ChildEvents``: output as it comes, the exit, and the end of
output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
from collections.abc import Mapping
from typing import Protocol

from queuectl.host.procinfo import signal_group
from queuectl.runner.readiness import Readiness

__all__ = ["Child", "ChildEvents", "Spawner", "pidfds_work"]

_READ = 65536
_SHELL = "/bin/sh"
_SHELL_BYTES = os.fsencode(_SHELL)
# posix_spawn has no "change directory" action in Python: a job with a directory starts a
# shell that changes to it ($1) and then becomes the command's shell ($2), the same
# process, so the group and the pid stay the command's.
_CHDIR = b'cd -- "$1" && exec /bin/sh -c -- "$2"'
# Python ignores these for itself, and an ignored signal stays ignored across exec: a
# command would see EPIPE instead of dying of SIGPIPE (``yes | head`` would complain).
# Children get the defaults back, as subprocess's ``restore_signals`` does.
_DEFAULT_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)


class ChildEvents(Protocol):
    """What a started child tells its owner, from loop callbacks, in this order:
    output chunks and the exit in any order, ``drained`` after the last chunk."""

    def output(self, stream: int, data: bytes) -> None:
        """``data`` arrived on ``stream`` (1 stdout, 2 stderr)."""

    def exited(self, returncode: int) -> None:
        """The command exited: its code, or minus the signal that killed it."""

    def drained(self) -> None:
        """Every output pipe reached its end."""

    def failed(self, error: Exception) -> None:
        """The command could not start (only when the start completes later)."""


class Child(Protocol):
    """A started command. ``pid`` is also its process group; None until it has started."""

    @property
    def pid(self) -> int | None: ...

    def signal(self, sig: int) -> bool:
        """Signal its whole group; False once the group is gone."""
        ...

    def close(self) -> None:
        """Stop watching it and close its pipes; no event follows."""
        ...


def pidfds_work() -> bool:
    """Whether this system can start children with posix_spawn and watch their pidfds."""
    if not (hasattr(os, "pidfd_open") and hasattr(os, "posix_spawn") and hasattr(select, "epoll")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))  # the call exists; is the kernel new enough?
    except OSError:
        return False
    return True


class Spawner:
    """Starts ``/bin/sh -c -- COMMAND`` children for one runner's loop.

    ``env`` is the environment every command gets; each start adds its own variables
    over it. The pidfd way is used where ``pidfds_work()``, unless ``pidfds`` is False.
    """

    def __init__(self, env: Mapping[str, str], *, pidfds: bool | None = None) -> None:
        self._env = dict(env)
        # posix_spawn converts its environment on every call: bytes convert for free.
        self._env_bytes = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
        self._pidfds = pidfds_work() if pidfds is None else pidfds
        self._devnull: int | None = None
        self._readiness: Readiness | None = None
        #: Descriptors this process inherited without close-on-exec (from the shell that
        #: started it, say): closed in every child, as subprocess's ``close_fds`` would.
        self._closes: list[tuple[int, int]] = []

    @property
    def uses_pidfds(self) -> bool:
        return self._pidfds

    def start(
        self,
        command: str,
        extra_env: Mapping[str, str],
        events: ChildEvents,
        *,
        stdout: bool,
        cwd: str | None = None,
    ) -> Child:
        """Start ``command`` with ``extra_env`` over the base environment, in ``cwd``
        (None: this process's directory).

        ``stdout`` False sends its stdout to /dev/null. OSError when it cannot start
        here and now; a start that completes later reports a failure to ``events``.
        """
        loop = asyncio.get_running_loop()
        if not self._pidfds:
            text_env = {**self._env, **extra_env}
            return _SubprocessChild(loop, command, text_env, events, stdout, cwd)
        readiness = self._readiness
        if readiness is None or readiness.loop is not loop:
            self.close_watchers()
            readiness = self._readiness = Readiness(loop)
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            self._closes = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_descriptors()]
        env = self._env_bytes.copy()
        env.update({os.fsencode(k): os.fsencode(v) for k, v in extra_env.items()})
        argv = [_SHELL_BYTES, b"-c", b"--", os.fsencode(command)]
        if cwd is not None:
            argv[2:] = [_CHDIR, _SHELL_BYTES, os.fsencode(cwd), argv[3]]
        return _PidfdChild.start(readiness, self._devnull, argv, env, events, stdout, self._closes)

    def close_watchers(self) -> None:
        if self._readiness is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed already
                self._readiness.close()
            self._readiness = None

    def close(self) -> None:
        self.close_watchers()
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None


def _inheritable_descriptors() -> list[int]:
    """This process's open descriptors above 2 that a child would inherit.

    A close action for a descriptor closed since is harmless (glibc ignores it).
    """
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):  # the listing's own descriptor, now closed
                if os.get_inheritable(fd):
                    found.append(fd)
    return found


class _PidfdChild:
    """A child started with ``posix_spawn``; its pidfd and pipes watched by ``Readiness``."""

    __slots__ = ("_events", "_pidfd", "_pipes", "_readiness", "pid")

    def __init__(self, readiness: Readiness, pid: int, pipes: dict[int, int], events: ChildEvents):
        self._readiness = readiness
        self.pid: int | None = pid
        self._pipes = pipes  # read end -> stream number, ours to close
        self._events = events
        self._pidfd = os.pidfd_open(pid)
        readiness.add(self._pidfd, self._on_exit)
        for fd in pipes:
            readiness.add(fd, _Reader(self, fd))

    @classmethod
    def start(
        cls,
        readiness: Readiness,
        devnull: int,
        argv: list[bytes],
        env: dict[bytes, bytes],
        events: ChildEvents,
        stdout: bool,
        closes: list[tuple[int, int]],
    ) -> _PidfdChild:
        err_r, err_w = os.pipe()  # both close-on-exec; dup2 makes the child's copy inherit
        out_r, out_w = -1, devnull
        try:
            if stdout:
                out_r, out_w = os.pipe()  # out of descriptors: err's pipe is closed below
            pid = os.posix_spawn(
                _SHELL_BYTES,
                argv,
                env,
                file_actions=[
                    *closes,
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
                setsid=True,
                setsigdef=_DEFAULT_SIGNALS,
                setsigmask=(),
            )
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
        try:
            return cls(readiness, pid, pipes, events)
        except BaseException:  # no pidfd: the child cannot be watched, so it must go
            signal_group(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            for fd in pipes:
                os.close(fd)
            raise

    def _on_exit(self) -> None:
        pid = self.pid
        assert pid is not None
        try:
            done, status = os.waitpid(pid, os.WNOHANG)  # the pidfd says the zombie is there
        except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler): the code is lost
            code = -1
        else:
            if not done:
                return  # a stale readiness of a reused descriptor number: it still runs
            code = os.waitstatus_to_exitcode(status)
        self._readiness.remove(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        self._events.exited(code)

    def _eof(self, fd: int) -> None:
        self._readiness.remove(fd)
        del self._pipes[fd]
        os.close(fd)
        if not self._pipes:
            self._events.drained()

    def signal(self, sig: int) -> bool:
        return self.pid is not None and signal_group(self.pid, sig)

    def close(self) -> None:
        if self._pidfd >= 0:  # still running: nothing would reap it later, so it goes now
            self._readiness.remove(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
            assert self.pid is not None
            signal_group(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        for fd in self._pipes:
            self._readiness.remove(fd)
            os.close(fd)
        self._pipes.clear()


class _Reader:
    """Reads one pipe of a child when the loop says it is readable.

    The pipes stay blocking (no fcntl calls per job): a read comes only after
    readiness, and ``Readiness`` keeps readiness from going stale.
    """

    __slots__ = ("_child", "_fd", "_stream")

    def __init__(self, child: _PidfdChild, fd: int) -> None:
        self._child = child
        self._fd = fd
        self._stream = child._pipes[fd]

    def __call__(self) -> None:
        try:
            data = os.read(self._fd, _READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._child._events.output(self._stream, data)
        else:
            self._child._eof(self._fd)


class _SubprocessChild(asyncio.SubprocessProtocol):
    """A child started through asyncio's subprocess API, where there are no pidfds.

    The start completes in a task of its own: until then ``pid`` is None, and a signal
    asked for meanwhile is sent as soon as the child exists.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        command: str,
        env: dict[str, str],
        events: ChildEvents,
        stdout: bool,
        cwd: str | None,
    ) -> None:
        self._events = events
        self._transport: asyncio.SubprocessTransport | None = None
        self._pending_signal: int | None = None
        self._open_pipes = {2} | ({1} if stdout else set())
        self._closed = False
        self.pid: int | None = None
        self._start = loop.create_task(
            loop.subprocess_exec(
                lambda: self,
                _SHELL,
                "-c",
                "--",  # a command starting with '-' is the command, not an option
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        )
        self._start.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[tuple[asyncio.SubprocessTransport, object]]) -> None:
        if task.cancelled():
            self._events.failed(OSError("the start was cancelled"))
            return
        error = task.exception()
        if error is not None:
            self._events.failed(error if isinstance(error, Exception) else OSError(str(error)))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport
        self.pid = transport.get_pid()
        if self._pending_signal is not None:
            self.signal(self._pending_signal)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if isinstance(data, bytes):
            self._events.output(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open_pipes.discard(fd)
        if not self._open_pipes and not self._closed:
            self._events.drained()

    def process_exited(self) -> None:
        assert self._transport is not None
        code = self._transport.get_returncode()
        self._events.exited(-1 if code is None else code)

    def signal(self, sig: int) -> bool:
        if self.pid is None:
            if self._pending_signal != signal.SIGKILL:
                self._pending_signal = sig
            return True
        return signal_group(self.pid, sig)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._transport is not None:
            self._transport.close()
