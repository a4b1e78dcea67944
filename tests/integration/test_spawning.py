"""Starting commands from the loop: posix_spawn with pidfds, and asyncio's subprocess API.

Every test runs both ways: the pidfd way is what Linux uses, the other is what runs
where there are no pidfds (macOS, older kernels), forced here with ``pidfds=False``.
Real children throughout.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from queuectl.runner.process import Child, Spawner
from tests.helpers import SPAWN_WAYS, eventually, processes_with


class Recorder:
    """The events of one child, and a future that is done once it exited and drained."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, bytes]] = []
        self.returncode: int | None = None
        self.error: Exception | None = None
        self.is_drained = False
        self.over: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def output(self, stream: int, data: bytes) -> None:
        assert not self.is_drained, "output after the end of output"
        self.chunks.append((stream, data))

    def exited(self, returncode: int) -> None:
        self.returncode = returncode
        self._check()

    def drained(self) -> None:
        self.is_drained = True
        self._check()

    def failed(self, error: Exception) -> None:
        self.error = error
        self.over.set_result(None)

    def _check(self) -> None:
        if self.returncode is not None and self.is_drained and not self.over.done():
            self.over.set_result(None)

    def text(self, stream: int) -> str:
        return b"".join(d for s, d in self.chunks if s == stream).decode()


@pytest.fixture(params=SPAWN_WAYS)
async def spawner(request: pytest.FixtureRequest) -> AsyncIterator[Spawner]:
    spawner = Spawner({"PATH": os.environ["PATH"], "BASE": "b"}, pidfds=request.param)
    assert spawner.uses_pidfds == request.param
    yield spawner
    spawner.close()


async def run(
    spawner: Spawner, command: str, extra: dict[str, str] | None = None, *, stdout: bool = True
) -> tuple[Recorder, Child]:
    events = Recorder()
    child = spawner.start(command, extra or {}, events, stdout=stdout)
    await asyncio.wait_for(events.over, 10)
    child.close()
    return events, child


async def test_the_child_gets_its_command_environment_and_streams(spawner: Spawner) -> None:
    events, _ = await run(
        spawner, 'echo "$BASE $EXTRA"; echo oops >&2; read x; exit 3', {"EXTRA": "e"}
    )
    assert events.returncode == 3  # stdin is /dev/null: read fails at once
    assert events.text(1) == "b e\n"
    assert events.text(2) == "oops\n"


async def test_extra_variables_win_over_the_base_ones(spawner: Spawner) -> None:
    events, _ = await run(spawner, 'echo "$BASE"', {"BASE": "extra"})
    assert events.text(1) == "extra\n"


async def test_without_stdout_only_stderr_is_read(spawner: Spawner) -> None:
    events, _ = await run(spawner, "echo out; echo err >&2", stdout=False)
    assert events.chunks == [(2, b"err\n")]


async def test_the_child_leads_its_own_session(spawner: Spawner) -> None:
    events, child = await run(spawner, "cut -d' ' -f6 /proc/$$/stat; echo $$")
    session, pid = events.text(1).split()
    assert session == pid == str(child.pid)


async def test_the_child_starts_with_no_signal_blocked_and_sigpipe_at_its_default(
    spawner: Spawner,
) -> None:
    # Blocked on the loop's thread, ignored in the whole process (as Python does).
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    ignored = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        # exec: grep reads its own masks, inherited unchanged. A shell blocks every
        # signal for a moment around each fork, so reading the shell's would race.
        events, _ = await run(spawner, "exec grep -E '^(SigBlk|SigIgn)' /proc/self/status")
    finally:
        signal.signal(signal.SIGPIPE, ignored)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    masks = dict(line.split(":\t") for line in events.text(1).splitlines())
    if spawner.uses_pidfds:  # asyncio's way keeps the loop thread's mask (no API to set it)
        assert int(masks["SigBlk"], 16) == 0
    assert not int(masks["SigIgn"], 16) & (1 << (signal.SIGPIPE - 1))


async def test_the_child_inherits_only_its_three_streams(spawner: Spawner) -> None:
    # Descriptors of the runner are close-on-exec, as Python opens every descriptor.
    readable, writable = os.pipe()
    try:
        events, _ = await run(spawner, "exec ls /proc/self/fd")
    finally:
        os.close(readable)
        os.close(writable)
    # ls's own descriptor on the directory it lists is the one above 2.
    assert sorted(int(fd) for fd in events.text(1).split())[:3] == [0, 1, 2]
    assert len(events.text(1).split()) == 4


async def test_a_killed_child_reports_the_signal(spawner: Spawner) -> None:
    events, _ = await run(spawner, "kill -9 $$")
    assert events.returncode == -signal.SIGKILL


async def test_the_group_is_signalled_whole(spawner: Spawner) -> None:
    marker = f"30.{os.getpid()}{id(spawner) % 10**6}"
    events = Recorder()
    # Signalled at once: the subprocess way sends it once its start completes.
    child = spawner.start(f"sleep {marker} & sleep {marker} & wait", {}, events, stdout=True)
    try:
        await eventually(lambda: len(processes_with(marker)) == 3, within=10)  # sh and two
        assert child.signal(signal.SIGKILL)
        await asyncio.wait_for(events.over, 10)
    finally:
        child.close()
    assert events.returncode == -signal.SIGKILL
    await eventually(lambda: not processes_with(marker), within=10, what="no survivor")


async def test_output_that_keeps_its_pipe_open_ends_with_the_close(spawner: Spawner) -> None:
    # A process that left the group holds stderr open; the owner gives the pipe up.
    events = Recorder()
    child = spawner.start("setsid sleep 2 & exit 0", {}, events, stdout=True)
    try:
        await eventually(lambda: events.returncode is not None, within=10, what="its exit")
        assert not events.is_drained
    finally:
        child.close()
    assert not events.over.done()


async def test_a_nul_byte_is_refused_rather_than_cut(spawner: Spawner) -> None:
    events = Recorder()
    try:
        spawner.start("true\0rm -rf x", {}, events, stdout=True)
    except ValueError as exc:
        message = str(exc)
    else:  # the subprocess way reports it once its start has failed
        await asyncio.wait_for(events.over, 10)
        message = str(events.error)
    assert "null byte" in message


async def test_the_environment_keeps_undecodable_bytes(spawner: Spawner, tmp_path: Path) -> None:
    out = tmp_path / "value"
    value = os.fsdecode(b"caf\xe9")
    events, _ = await run(spawner, f'printf %s "$NAME" > {out}', {"NAME": value})
    assert events.returncode == 0
    assert out.read_bytes() == b"caf\xe9"


async def test_a_command_starting_with_a_dash_is_the_command_not_an_option_of_sh(
    spawner: Spawner, tmp_path: Path
) -> None:
    tool = tmp_path / "-greet"
    tool.write_text("#!/bin/sh\necho hello\n")
    tool.chmod(0o755)
    events, _ = await run(spawner, "-greet", {"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert (events.returncode, events.text(1)) == (0, "hello\n")
    events, _ = await run(spawner, "-n")  # sh's own option, were it read as one
    assert events.returncode == 127
    assert "-n: not found" in events.text(2)
