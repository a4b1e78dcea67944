"""Starting children off the loop: glibc's posix_spawn through ctypes, and the thread.

Real children throughout; the thread's orphan handling is checked with a recorder
in place of the kill, so that the test sees exactly which results were given up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from queuectl import libc_spawn
from queuectl.spawn_thread import SpawnThread

LIBC = libc_spawn.load([signal.SIGPIPE])
needs_libc = pytest.mark.skipif(LIBC is None, reason="needs Linux with glibc 2.26 or newer")


@pytest.fixture
def devnull() -> Iterator[int]:
    fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    yield fd
    os.close(fd)


def run_shell(script: str, devnull: int, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Start ``sh -c script`` with libc_spawn; its exit code and its stdout."""
    assert LIBC is not None
    r, w = os.pipe()
    try:
        block = libc_spawn.env_block(env if env is not None else {"PATH": os.environ["PATH"]})
        pid = LIBC.spawn(b"/bin/sh", [b"/bin/sh", b"-c", script.encode()], block, (devnull, w, w))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as out:
        output = out.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


@needs_libc
def test_the_child_gets_its_arguments_environment_and_stdio(devnull: int) -> None:
    code, output = run_shell('echo "$GREETING"; exit 3', devnull, {"GREETING": "hello there"})
    assert (code, output) == (3, "hello there\n")


@needs_libc
def test_the_child_leads_its_own_session(devnull: int) -> None:
    code, output = run_shell("cut -d' ' -f6 /proc/$$/stat; echo $$", devnull)
    session, pid = output.split()
    assert code == 0
    assert session == pid


@needs_libc
def test_the_child_starts_with_no_signal_blocked_and_sigpipe_at_its_default(
    devnull: int,
) -> None:
    # Blocked here (the spawning thread), ignored in the whole process.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    ignored = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        # exec: grep reads its own masks, inherited unchanged. A shell blocks every
        # signal for a moment around each fork, so reading the shell's would race.
        code, output = run_shell("exec grep -E '^(SigBlk|SigIgn)' /proc/self/status", devnull)
    finally:
        signal.signal(signal.SIGPIPE, ignored)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    masks = dict(line.split(":\t") for line in output.splitlines())
    assert code == 0
    assert int(masks["SigBlk"], 16) == 0
    assert not int(masks["SigIgn"], 16) & (1 << (signal.SIGPIPE - 1))


@needs_libc
def test_a_missing_program_is_an_os_error(devnull: int) -> None:
    assert LIBC is not None
    with pytest.raises(FileNotFoundError):
        LIBC.spawn(b"/nonexistent/sh", [b"sh"], [], (devnull, devnull, devnull))


@needs_libc
def test_a_nul_byte_is_refused_rather_than_cut(devnull: int) -> None:
    assert LIBC is not None
    with pytest.raises(ValueError, match="null byte"):
        LIBC.spawn(b"/bin/sh", [b"/bin/sh", b"-c", b"true\0rm -rf x"], [], (devnull,) * 3)


@pytest.mark.parametrize("env", [{"A=B": "x"}, {"": "x"}, {"A": "x\0y"}])
def test_an_illegal_environment_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="illegal environment variable"):
        libc_spawn.env_block(env)


def test_the_environment_keeps_undecodable_bytes() -> None:
    value = os.fsdecode(b"caf\xe9")
    assert libc_spawn.env_block({"NAME": value}) == [b"NAME=caf\xe9"]


class Recorder:
    """The thread's ``start`` and ``orphan``: records what ran, and on which thread."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.orphans: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def start(self, n: int) -> int:
        self.release.wait(10)
        self.threads.add(threading.current_thread().name)
        if n < 0:
            raise OSError(n, "refused")
        return n * 10

    def orphan(self, result: int) -> None:
        self.orphans.append(result)


async def test_requests_run_on_the_thread_and_results_come_back_in_order() -> None:
    recorder = Recorder()
    thread = SpawnThread(asyncio.get_running_loop(), recorder.start, recorder.orphan)
    try:
        results = await asyncio.gather(*(thread.submit(n) for n in range(20)))
        with pytest.raises(OSError, match="refused"):
            await thread.submit(-1)
    finally:
        thread.close()
    assert results == [n * 10 for n in range(20)]
    assert recorder.threads == {"queuectl-spawn"}
    assert recorder.orphans == []


async def test_a_start_whose_submitter_was_cancelled_is_orphaned() -> None:
    recorder = Recorder()
    recorder.release.clear()  # hold the thread until the submitter has gone
    thread = SpawnThread(asyncio.get_running_loop(), recorder.start, recorder.orphan)
    try:
        waiting = thread.submit(7)
        kept = thread.submit(8)
        waiting.cancel()
        recorder.release.set()
        assert await kept == 80
    finally:
        thread.close()
    assert recorder.orphans == [70]


def test_starts_finished_after_the_loop_closed_are_orphaned() -> None:
    recorder = Recorder()
    recorder.release.clear()
    loop = asyncio.new_event_loop()
    thread = SpawnThread(loop, recorder.start, recorder.orphan)
    thread.submit(5)
    loop.close()
    recorder.release.set()
    thread.close()  # joins: the start has finished and found the loop closed
    assert recorder.orphans == [50]


async def test_close_ends_the_thread() -> None:
    recorder = Recorder()
    thread = SpawnThread(asyncio.get_running_loop(), recorder.start, recorder.orphan)
    assert await thread.submit(1) == 10
    assert thread.is_alive()
    thread.close()
    assert not thread.is_alive()
