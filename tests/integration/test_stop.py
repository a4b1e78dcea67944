"""Stopping a runner: gracefully, hard, by outside cancellation; and per-job timeouts."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.models import Job, JobState
from queuectl.domain.spec import JobSpec
from queuectl.host.procinfo import group_alive
from queuectl.runner.lifecycle import RunStats
from queuectl.store.base import Finish, OutputWrite
from tests.conftest import FAST
from tests.helpers import eventually, processes_with, run_burst, running


def gated(work: Path, name: str = "job") -> str:
    """A command that says it started, then runs until the test opens its gate."""
    return (
        f"echo $$ > {work}/{name}.pid; touch {work}/{name}.started; "
        f"while [ ! -e {work}/gate ]; do sleep 0.01; done; echo finished > {work}/{name}.out"
    )


async def still_running(task: asyncio.Task[object], seconds: float = 0.2) -> bool:
    """Whether ``task`` is still running after a short grace (for "it waits" checks)."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_graceful_stop_lets_the_running_job_finish_and_records_it(
    queue: Queue, work: Path
) -> None:
    job = await queue.enqueue(gated(work))
    runner = queue.runner()
    async with running(runner) as task:
        await eventually(lambda: (work / "job.started").exists())
        runner.stop()
        waiting = await queue.enqueue("true")  # arrives after the stop: not claimed
        assert await still_running(task)  # draining: the command has not ended
        (work / "gate").touch()
        stats = await asyncio.wait_for(task, 10)
    done = await queue.get(job.id)
    assert (done.state, done.exit_code, done.attempts) == (JobState.COMPLETED, 0, 1)
    assert (work / "job.out").read_text() == "finished\n"
    assert stats.completed == 1
    counts = await queue.counts()
    assert counts[JobState.PROCESSING] == 0
    assert (await queue.get(waiting.id)).attempts == 0
    assert await queue.store.list_runners() == []


async def test_stop_is_idempotent_and_may_come_before_run(queue: Queue) -> None:
    job = await queue.enqueue("true")
    runner = queue.runner()
    runner.stop()
    runner.stop()
    stats = await asyncio.wait_for(runner.run(), 10)
    assert stats.completed == 0
    assert (await queue.get(job.id)).state == JobState.PENDING


async def test_hard_stop_ends_the_command_group_and_gives_the_job_back_uncounted(
    queue: Queue, work: Path
) -> None:
    job = await queue.enqueue(f"echo $$ > {work}/pid; touch {work}/started; sleep 60; sleep 60")
    runner = queue.runner()
    async with running(runner) as task:
        await eventually(lambda: (work / "started").exists())
        runner.stop(hard=True)
        stats = await asyncio.wait_for(task, 10)
    pgid = int((work / "pid").read_text())
    await eventually(lambda: not group_alive(pgid), within=5, what="the group gone")
    back = await queue.get(job.id)
    assert (back.state, back.attempts, back.runner_id) == (JobState.PENDING, 0, None)
    assert back.last_error is not None
    assert "hard stop" in back.last_error
    assert stats.given_back == 1
    assert (await queue.counts())[JobState.PROCESSING] == 0


async def test_hard_stop_after_a_graceful_one_ends_the_draining_jobs(
    queue: Queue, work: Path
) -> None:
    job = await queue.enqueue(gated(work))
    runner = queue.runner()
    async with running(runner) as task:
        await eventually(lambda: (work / "job.started").exists())
        runner.stop()
        assert await still_running(task)
        runner.stop(hard=True)  # the second signal
        await asyncio.wait_for(task, 10)
    pgid = int((work / "job.pid").read_text())
    await eventually(lambda: not group_alive(pgid), within=5, what="the group gone")
    back = await queue.get(job.id)
    assert (back.state, back.attempts) == (JobState.PENDING, 0)
    assert not (work / "job.out").exists()


async def test_outside_cancellation_drains_then_reraises(queue: Queue, work: Path) -> None:
    job = await queue.enqueue(gated(work))
    runner = queue.runner()
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: (work / "job.started").exists())
        task.cancel()
        assert await still_running(task)  # it waits for the running job
        (work / "gate").touch()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    finally:
        if not task.done():
            runner.stop(hard=True)
            await asyncio.gather(task, return_exceptions=True)
    assert runner.stopping
    done = await queue.get(job.id)
    assert (done.state, done.attempts) == (JobState.COMPLETED, 1)
    assert (work / "job.out").exists()
    assert await queue.store.list_runners() == []


async def test_a_timeout_kills_a_command_that_ignores_sigterm_and_its_grandchild(
    queue: Queue, work: Path
) -> None:
    queue = Queue(queue.store, dataclasses.replace(FAST, kill_grace=0.5))
    marker = f"1000.{uuid.uuid4().int % 10**9}"  # a sleep length no other process uses
    command = (
        "trap '' TERM; "
        f"sh -c 'trap \"\" TERM; touch {work}/grandchild; sleep {marker}; true' & "
        f"while [ ! -e {work}/grandchild ]; do sleep 0.01; done; sleep {marker}; wait"
    )
    job = await queue.enqueue(JobSpec(command=command, timeout=1, max_retries=0))
    await run_burst(queue.runner(burst=True), within=30)
    dead = await queue.get(job.id)
    assert dead.state == JobState.DEAD
    assert dead.exit_code is None
    assert dead.last_error is not None
    assert dead.last_error.startswith("timed out after 1s (killed by SIGKILL)")
    assert (work / "grandchild").exists()
    await eventually(lambda: not processes_with(marker), within=5, what="no survivor")


async def test_a_timeout_ends_a_well_behaved_command_with_sigterm(queue: Queue) -> None:
    job = await queue.enqueue(JobSpec(command="sleep 30", timeout=0.5, max_retries=0))
    await run_burst(queue.runner(burst=True), within=20)
    dead = await queue.get(job.id)
    assert dead.last_error == f"timed out after 0.5s (killed by {signal.SIGTERM.name})"


async def test_the_config_job_timeout_applies_to_jobs_without_one(queue: Queue) -> None:
    queue = Queue(queue.store, dataclasses.replace(FAST, job_timeout=0.5))
    job = await queue.enqueue("sleep 30", max_retries=0)
    await run_burst(queue.runner(burst=True), within=20)
    dead = await queue.get(job.id)
    assert dead.last_error is not None
    assert dead.last_error.startswith("timed out after 0.5s")


async def test_a_command_leaves_no_background_process_behind(queue: Queue, work: Path) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**9}"
    job = await queue.enqueue(f"sleep {marker} & echo $! > {work}/bg; exit 0")
    await run_burst(queue.runner(burst=True))
    assert (await queue.get(job.id)).state == JobState.COMPLETED
    await eventually(lambda: not processes_with(marker), within=5, what="no survivor")


async def test_cancellation_while_claiming_leaves_no_job_processing(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: the runner is cancelled from outside exactly while its claim
    # is in flight (the real store still does the round trip).
    job = await queue.enqueue("true")
    runner = queue.runner()
    task: asyncio.Task[RunStats] | None = None
    real_exchange = queue.store.exchange

    async def exchange_while_cancelled(
        finishes: Sequence[Finish],
        runner_id: str,
        limit: int,
        lease: float,
        queues: Sequence[str] | None = None,
        *,
        outputs: Sequence[OutputWrite] = (),
    ) -> tuple[set[str], list[Job]]:
        assert task is not None
        if limit:
            task.cancel()
        return await real_exchange(finishes, runner_id, limit, lease, queues, outputs=outputs)

    monkeypatch.setattr(queue.store, "exchange", exchange_while_cancelled)
    task = asyncio.create_task(runner.run())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    done = await queue.get(job.id)
    assert (done.state, done.runner_id) == (JobState.COMPLETED, None)
    assert await queue.store.list_runners() == []
