"""Cancelling jobs in every state, through the library (every store)."""

from __future__ import annotations

import asyncio

import pytest

from queuectl.api.queue import Queue
from queuectl.api.watching import WaitTimeout
from queuectl.domain.models import JobState
from tests.faults.helpers import claim_processes
from tests.helpers import eventually


async def test_a_pending_job_is_cancelled_and_never_runs(queue: Queue) -> None:
    job = await queue.enqueue("echo ran > /dev/null", delay=0)
    after = await queue.enqueue("true", after=[job.id])
    assert await queue.cancel([job.id]) == {job.id: "cancelled"}
    stats = await queue.runner(burst=True).run()
    assert stats.completed == 0
    cancelled = await queue.get(job.id)
    assert (cancelled.state, cancelled.attempts) == (JobState.CANCELLED, 0)
    assert cancelled.last_error == "cancelled by request"
    assert (await queue.get(after.id)).state == JobState.CANCELLED
    assert await queue.attempts(job.id) == []


async def test_a_running_job_is_stopped_and_not_retried(queue: Queue) -> None:
    job = await queue.enqueue("sleep 60 & sleep 60; wait", max_retries=5)
    runner = queue.runner()
    running = asyncio.create_task(runner.run())
    await eventually(lambda: _is(queue, job.id, JobState.PROCESSING), what="the job to start")
    assert await queue.cancel([job.id]) == {job.id: "requested"}
    (done,) = await queue.wait([job.id], within=20)
    assert done.state == JobState.CANCELLED
    assert done.attempts == 1
    (attempt,) = await queue.attempts(job.id)
    assert attempt.reason == "cancel"
    leftovers = claim_processes(job.id, 1)
    assert leftovers == []
    runner.stop()
    stats = await running
    assert stats.cancelled == 1
    assert (await queue.get(job.id)).state == JobState.CANCELLED


async def _is(queue: Queue, job_id: str, state: JobState) -> bool:
    return (await queue.get(job_id)).state == state


async def test_finished_and_unknown_jobs_are_left_alone(queue: Queue) -> None:
    job = await queue.enqueue("true")
    await queue.runner(burst=True).run()
    assert await queue.cancel([job.id, "ghost"]) == {job.id: "finished", "ghost": "missing"}
    assert (await queue.get(job.id)).state == JobState.COMPLETED


async def test_wait_returns_the_final_jobs_or_times_out(queue: Queue) -> None:
    ok = await queue.enqueue("true")
    bad = await queue.enqueue("exit 1", max_retries=0)
    later = await queue.enqueue("true", delay=3600)
    await queue.runner(burst=True).run()
    done = await queue.wait([ok.id, bad.id], within=5)
    assert [j.state for j in done] == [JobState.COMPLETED, JobState.DEAD]
    with pytest.raises(WaitTimeout) as caught:
        await queue.wait([ok.id, later.id], within=0.2)
    assert caught.value.unfinished == [later.id]
    assert caught.value.exit_code == 124
