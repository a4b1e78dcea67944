"""The shell core: which runners use its thread, and what happens when it cannot go on.

Every behaviour test of shell jobs on SQLite (timeouts, cancel, hard stop, output,
leases, drain) runs through the core; these cover what is the core's own.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.models import Job, JobState
from queuectl.runner import core
from tests.helpers import eventually, processes_with, run_burst


def core_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "queuectl-core"]


async def test_a_default_runner_on_sqlite_runs_its_jobs_on_the_core_thread(
    queue: Queue, store_kind: str, work: Path
) -> None:
    await queue.enqueue(f"touch {work}/started; sleep 30")
    runner = queue.runner()
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: (work / "started").exists())
        assert len(core_threads()) == (1 if store_kind == "sqlite" else 0)
    finally:
        runner.stop(hard=True)
        await asyncio.wait_for(task, 10)
    assert core_threads() == []


async def test_a_runner_with_its_own_execute_stays_on_the_loop(queue: Queue) -> None:
    seen: list[bool] = []

    async def execute(job: Job) -> None:
        seen.append(bool(core_threads()))

    await queue.enqueue("true")
    await run_burst(queue.runner(burst=True, execute=execute))
    assert seen == [False]


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_cancelling_the_runner_drains_the_core_first(queue: Queue, work: Path) -> None:
    job = await queue.enqueue(f"touch {work}/started; sleep 0.3")
    runner = queue.runner()
    task = asyncio.create_task(runner.run())
    await eventually(lambda: (work / "started").exists())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    done = await queue.get(job.id)
    assert (done.state, done.runner_id) == (JobState.COMPLETED, None)
    assert await queue.store.list_runners() == []
    assert core_threads() == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_a_failing_core_fails_the_runner_and_leaves_no_command_behind(
    queue: Queue, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: the thread fails while a command runs (after recording the
    # first outcome). The runner must end with the error, kill what runs, and leave
    # the registry; the job it held stays claimed until its lease ends (recovery).
    marker = f"1000.{uuid.uuid4().int % 10**9}"
    first = await queue.enqueue("true")
    held = await queue.enqueue(f"touch {work}/started; sleep {marker}")
    real = core.ShellCore._recorded

    def recorded_then_fail(self: core.ShellCore, *args: object) -> None:
        real(self, *args)  # type: ignore[arg-type]
        if (work / "started").exists():
            raise RuntimeError("injected")

    monkeypatch.setattr(core.ShellCore, "_recorded", recorded_then_fail)
    runner = queue.runner(concurrency=2)
    task = asyncio.create_task(runner.run())
    await eventually(lambda: (work / "started").exists())
    runner.wake()  # nothing else would make the thread record anything now
    with pytest.raises(RuntimeError, match="injected"):
        await asyncio.wait_for(task, 10)
    assert (await queue.get(first.id)).state == JobState.COMPLETED
    assert (await queue.get(held.id)).state == JobState.PROCESSING
    await eventually(lambda: not processes_with(marker), within=5, what="no survivor")
    assert await queue.store.list_runners() == []
    assert core_threads() == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_commands_start_with_no_signal_blocked_whatever_the_starting_thread_blocks(
    queue: Queue, work: Path
) -> None:
    # The core's thread inherits the mask of the thread that starts the runner, and
    # its children may inherit the core's (vfork_spawn): the core clears its own.
    await queue.enqueue(f"exec grep SigBlk /proc/self/status > {work}/masks")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        await run_burst(queue.runner(burst=True))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    assert int((work / "masks").read_text().split()[1], 16) == 0
