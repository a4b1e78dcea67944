"""Purging finished jobs, by hand and by retention."""

from __future__ import annotations

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.errors import InvalidInput
from queuectl.domain.models import JobState
from queuectl.domain.spec import JobSpec
from queuectl.store.base import Finish


async def _finish(queue: Queue, outcomes: dict[str, JobState]) -> None:
    """Claim every runnable job, then finish the ones named in ``outcomes``."""
    claimed = {j.id: j for j in await queue.store.claim("r", 10_000, 30.0)}
    await queue.store.finish([Finish(i, claimed[i].token, s) for i, s in outcomes.items()])


async def test_purge_deletes_finished_jobs_only_and_counts_them(queue: Queue) -> None:
    await queue.enqueue_many([JobSpec("true", id=f"c{i}") for i in range(3)])
    await queue.enqueue_many([JobSpec("true", id="d0"), JobSpec("true", id="run")])
    done = dict.fromkeys(["c0", "c1", "c2"], JobState.COMPLETED)
    await _finish(queue, {**done, "d0": JobState.DEAD})  # "run" stays processing
    await queue.enqueue_many([JobSpec("true", id="wait"), JobSpec("true", id="f", queue="q")])

    assert await queue.purge(states=["completed"]) == 3
    assert await queue.purge() == 1  # the dead one
    left = {j.id: j.state async for j in queue.jobs()}
    assert left == {"run": JobState.PROCESSING, "wait": JobState.PENDING, "f": JobState.PENDING}
    with pytest.raises(InvalidInput):
        await queue.purge(states=["pending"])


async def test_purge_in_batches_removes_everything_asked(queue: Queue) -> None:
    await queue.enqueue_many([JobSpec("true") for _ in range(1200)])
    await _finish(queue, {j.id: JobState.COMPLETED async for j in queue.jobs()})
    assert await queue.purge(batch=500) == 1200
    assert sum((await queue.counts()).values()) == 0


async def test_purge_respects_age_and_queue(queue: Queue) -> None:
    await queue.enqueue_many([JobSpec("true", id="a", queue="x"), JobSpec("true", id="b")])
    await _finish(queue, {"a": JobState.COMPLETED, "b": JobState.COMPLETED})
    assert await queue.purge(older_than=3600) == 0
    assert await queue.purge(queue="x") == 1
    assert [j.id async for j in queue.jobs()] == ["b"]
