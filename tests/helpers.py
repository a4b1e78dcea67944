"""Small tools for the library tests: await a condition, steer the clock, watch processes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from queuectl.domain.models import Job, JobState, RunnerInfo, from_epoch
from queuectl.runner.lifecycle import Runner, RunStats
from queuectl.runner.process import pidfds_work
from queuectl.store import Store

#: Both ways of starting commands, as ``pidfds`` parameters: posix_spawn with pidfds
#: (Linux) and asyncio's subprocess API (where there are no pidfds).
SPAWN_WAYS = [
    pytest.param(
        True,
        id="pidfd",
        marks=pytest.mark.skipif(not pidfds_work(), reason="needs Linux 5.3 or newer"),
    ),
    pytest.param(False, id="subprocess"),
]

Predicate = Callable[[], bool | Awaitable[bool]]

#: A fixed, recognisable instant for frozen clocks (2023-11-14T22:13:20Z).
EPOCH = 1_700_000_000.0


async def eventually(
    check: Predicate, *, within: float = 30.0, what: str = "", every: float = 0.01
) -> None:
    """Poll ``check`` (sync or async) until it is true; fail after ``within`` seconds.

    Conditions that another task or process brings about are awaited this way rather
    than with fixed sleeps, so tests are as fast as the machine allows and still pass
    when it is busy.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what or check}")
        await asyncio.sleep(every)


class Clock:
    """An injectable clock: frozen at ``start`` or, without it, real time plus an offset.

    ``advance`` moves it forward, which lets tests cross backoff delays and leases
    without waiting for them.
    """

    def __init__(self, start: float | None = None) -> None:
        self._frozen = start
        self.offset = 0.0

    def __call__(self) -> float:
        base = time.time() if self._frozen is None else self._frozen
        return base + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


async def job_state(store: Store, job_id: str) -> JobState:
    return (await store.get(job_id)).state


async def in_state(store: Store, job_id: str, *states: JobState) -> bool:
    return await job_state(store, job_id) in states


@contextlib.asynccontextmanager
async def running(runner: Runner, *, within: float = 30.0) -> AsyncIterator[asyncio.Task[RunStats]]:
    """Run ``runner`` in a task for the block, then stop it and wait for its end.

    The block may stop and await the task itself. Leaving the block stops the runner
    gracefully; leaving it by an exception stops it hard, so that a failing test
    leaves no runner and no command behind.
    """
    task = asyncio.create_task(runner.run())
    try:
        yield task
    except BaseException:
        runner.stop(hard=True)
        raise
    finally:
        runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, within)


async def run_burst(runner: Runner, *, within: float = 30.0) -> RunStats:
    """Run a burst runner to its end, failing the test if it does not end in time."""
    assert runner.burst
    return await asyncio.wait_for(runner.run(), within)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped (not reused this soon)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def job_record(job_id: str = "j1", *, at: float = EPOCH, **changes: object) -> Job:
    """A Job record as a store returns it: pending, ``true``, every time ``at``."""
    moment = from_epoch(at)
    job = Job(
        id=job_id,
        command="true",
        state=JobState.PENDING,
        attempts=0,
        max_retries=3,
        run_at=moment,
        created_at=moment,
        updated_at=moment,
    )
    return job._replace(**changes)  # type: ignore[arg-type]


def runner_info(
    runner_id: str,
    now: float,
    *,
    pid: int | None = None,
    host: str = "test-host",
    wake: str | None = None,
    concurrency: int = 1,
) -> RunnerInfo:
    return RunnerInfo(
        id=runner_id,
        host=host,
        pid=os.getpid() if pid is None else pid,
        started_at=from_epoch(now),
        heartbeat_at=from_epoch(now),
        concurrency=concurrency,
        wake=wake,
    )


def processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        zombie = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"
        if marker.encode() in cmdline and not zombie:
            found.append(int(entry.name))
    return found


def read_times(path: Path) -> float:
    """A timestamp a command wrote with ``date +%s.%N``."""
    return float(path.read_text().strip())


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
