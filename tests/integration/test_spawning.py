"""Starting children off the loop: glibc's posix_spawn through ctypes, subprocess's
vfork helper (the shell core's), and the spawning thread.

Real children throughout; the thread's orphan handling is checked with a recorder
in place of the kill, so that the test sees exactly which results were given up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.runner import libc_spawn, vfork_spawn
from queuectl.runner.process import Spawner
from queuectl.runner.spawn_thread import SpawnThread

LIBC = libc_spawn.load([signal.SIGPIPE])
VFORK = vfork_spawn.load()
needs_libc = pytest.mark.skipif(LIBC is None, reason="needs Linux with glibc 2.26 or newer")
Spawn = libc_spawn.LibcSpawn | vfork_spawn.VforkSpawn
SPAWNERS = [
    pytest.param(LIBC, id="libc", marks=needs_libc),
    pytest.param(
        VFORK,
        id="vfork",
        marks=pytest.mark.skipif(VFORK is None, reason="needs Linux and Python 3.11 to 3.13"),
    ),
]


@pytest.fixture(params=SPAWNERS)
def spawner(request: pytest.FixtureRequest) -> Spawn:
    assert request.param is not None
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def devnull() -> Iterator[int]:
    fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    yield fd
    os.close(fd)


def run_shell(
    script: str, devnull: int, env: dict[str, str] | None = None, spawner: Spawn | None = LIBC
) -> tuple[int, str]:
    """Start ``sh -c script`` with ``spawner``; its exit code and its stdout."""
    assert spawner is not None
    r, w = os.pipe()
    try:
        block = libc_spawn.env_block(env if env is not None else {"PATH": os.environ["PATH"]})
        argv = [b"/bin/sh", b"-c", script.encode()]
        pid = spawner.spawn(b"/bin/sh", argv, block, (devnull, w, w))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as out:
        output = out.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output


def test_the_child_gets_its_arguments_environment_and_stdio(devnull: int, spawner: Spawn) -> None:
    env = {"GREETING": "hello there"}
    code, output = run_shell('echo "$GREETING"; exit 3', devnull, env, spawner)
    assert (code, output) == (3, "hello there\n")


def test_extra_variables_follow_the_base_environment(devnull: int, spawner: Spawn) -> None:
    base = libc_spawn.env_block({"A": "1", "B": "2"})
    r, w = os.pipe()
    try:
        for extra in ([b"C=3"], [b"C=4", b"D=5"], []):  # the same base list each time
            script = b'echo "$A$B${C-}${D-}"'
            pid = spawner.spawn(
                b"/bin/sh", [b"/bin/sh", b"-c", script], base, (devnull, w, w), extra
            )
            os.waitpid(pid, 0)
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as out:
        assert out.read().decode().split() == ["123", "1245", "12"]


def test_the_child_leads_its_own_session(devnull: int, spawner: Spawn) -> None:
    code, output = run_shell("cut -d' ' -f6 /proc/$$/stat; echo $$", devnull, spawner=spawner)
    session, pid = output.split()
    assert code == 0
    assert session == pid


def test_sigpipe_is_back_at_its_default_in_the_child(devnull: int, spawner: Spawn) -> None:
    ignored = signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python sets it
    try:
        code, output = run_shell("exec grep SigIgn /proc/self/status", devnull, spawner=spawner)
    finally:
        signal.signal(signal.SIGPIPE, ignored)
    assert code == 0
    assert not int(output.split()[1], 16) & (1 << (signal.SIGPIPE - 1))


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
async def test_the_spawning_thread_starts_children_with_no_signal_blocked(
    tmp_path: Path,
) -> None:
    # The loop path: the spawning thread is created by the loop's thread, which blocks
    # SIGUSR1 here; a vfork child would keep the mask of the thread that starts it.
    out = tmp_path / "masks"
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    spawner = Spawner()
    try:
        child = await spawner.spawn(f"exec grep SigBlk /proc/self/status > {out}", os.environ)
        code = await child.wait()
        await child.close()
    finally:
        spawner.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    assert code == 0
    assert int(out.read_text().split()[1], 16) == 0


def test_a_missing_program_is_an_os_error(devnull: int, spawner: Spawn) -> None:
    with pytest.raises(FileNotFoundError):
        spawner.spawn(b"/nonexistent/sh", [b"sh"], [], (devnull, devnull, devnull))


def test_a_program_that_cannot_run_is_an_os_error(
    devnull: int, spawner: Spawn, tmp_path: Path
) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError):
        spawner.spawn(os.fsencode(script), [b"x"], [], (devnull, devnull, devnull))


def test_a_nul_byte_is_refused_rather_than_cut(devnull: int, spawner: Spawn) -> None:
    with pytest.raises(ValueError, match="null byte"):
        spawner.spawn(b"/bin/sh", [b"/bin/sh", b"-c", b"true\0rm -rf x"], [], (devnull,) * 3)


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
