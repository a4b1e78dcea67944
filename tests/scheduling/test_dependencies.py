"""Jobs that run after others: chains, failure propagation, bad references."""

from __future__ import annotations

import asyncio

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.errors import InvalidInput, InvalidState, JobNotFound
from queuectl.domain.models import JobState, Outcome
from queuectl.domain.spec import JobSpec
from queuectl.store.base import Finish
from tests.helpers import runner_info


async def _finish(queue: Queue, job_id: str, state: JobState) -> None:
    (job,) = [j for j in await queue.store.claim("r", 100, 30.0) if j.id == job_id]
    assert await queue.store.finish([Finish(job.id, job.token, state)]) == {job.id}


async def test_a_job_waits_for_its_dependencies_to_complete(queue: Queue) -> None:
    await queue.enqueue_many(
        [
            JobSpec("true", id="fetch"),
            JobSpec("true", id="build"),
            JobSpec("true", id="test", after=("fetch", "build")),
        ]
    )
    assert (await queue.get("test")).blocked == 2
    claimed = {j.id for j in await queue.store.claim("r", 100, 30.0)}
    assert claimed == {"fetch", "build"}
    fetch, build = await queue.get("fetch"), await queue.get("build")
    await queue.store.finish([Finish("fetch", fetch.token, JobState.COMPLETED)])
    assert (await queue.get("test")).blocked == 1
    assert await queue.store.claim("r", 100, 30.0) == []
    await queue.store.finish([Finish("build", build.token, JobState.COMPLETED)])
    assert [j.id for j in await queue.store.claim("r", 100, 30.0)] == ["test"]


async def test_a_job_after_a_completed_one_is_runnable_at_once(queue: Queue) -> None:
    await queue.enqueue("true", id="done")
    await _finish(queue, "done", JobState.COMPLETED)
    job = await queue.enqueue("true", id="next", after=["done"])
    assert job.blocked == 0


@pytest.mark.parametrize("ending", [JobState.DEAD, JobState.CANCELLED])
async def test_an_ended_dependency_cancels_the_whole_chain(queue: Queue, ending: JobState) -> None:
    await queue.enqueue_many(
        [
            JobSpec("true", id="a"),
            JobSpec("true", id="b", after=("a",)),
            JobSpec("true", id="c", after=("b",)),
            JobSpec("true", id="other"),
        ]
    )
    await _finish(queue, "a", ending)
    b, c = await queue.get("b"), await queue.get("c")
    assert b.state == c.state == JobState.CANCELLED
    assert b.last_error == f"cancelled: it runs after job a, which ended {ending.value}"
    assert c.last_error == "cancelled: it runs after job b, which ended cancelled"
    assert (await queue.get("other")).state != JobState.CANCELLED


async def test_unknown_or_ended_dependencies_are_refused_and_nothing_is_stored(
    queue: Queue,
) -> None:
    with pytest.raises(JobNotFound):
        await queue.enqueue_many([JobSpec("true", id="x"), JobSpec("true", after=("ghost",))])
    assert (await queue.counts())[JobState.PENDING] == 0
    await queue.enqueue("true", id="doomed", max_retries=0)
    await _finish(queue, "doomed", JobState.DEAD)
    with pytest.raises(InvalidState, match="dead"):
        await queue.enqueue("true", after=["doomed"])
    with pytest.raises(InvalidInput, match="later in the batch"):
        await queue.enqueue_many([JobSpec("true", after=("b2",)), JobSpec("true", id="b2")])


async def test_a_runner_runs_a_chain_in_order_and_stops_at_a_failure(queue: Queue) -> None:
    order: list[str] = []

    async def execute(job: object) -> Outcome | None:
        from queuectl.domain.models import Job

        assert isinstance(job, Job)
        order.append(job.id)
        return Outcome(exit_code=1, error="boom") if job.id == "2" else None

    await queue.enqueue_many(
        [
            JobSpec("true", id="1"),
            JobSpec("true", id="2", after=("1",), max_retries=0),
            JobSpec("true", id="3", after=("2",)),
            JobSpec("true", id="side", after=("1",)),
        ]
    )
    stats = await queue.runner(concurrency=4, burst=True, execute=execute).run()
    assert order[0] == "1"
    assert set(order) == {"1", "2", "side"}
    assert stats.completed == 2
    assert (await queue.get("3")).state == JobState.CANCELLED


async def test_a_chain_deeper_than_trigger_recursion_is_cancelled_whole(queue: Queue) -> None:
    depth = 1200  # SQLite stops recursive triggers at 1000 levels
    await queue.enqueue_many(
        [JobSpec("true", id="c0")]
        + [JobSpec("true", id=f"c{i}", after=(f"c{i - 1}",)) for i in range(1, depth)]
    )
    await _finish(queue, "c0", JobState.DEAD)
    last = await queue.get(f"c{depth - 1}")
    assert last.state == JobState.CANCELLED
    assert last.last_error == f"cancelled: it runs after job c{depth - 2}, which ended cancelled"
    assert (await queue.counts())[JobState.CANCELLED] == depth - 1


async def test_naming_a_dependency_twice_waits_for_it_once(queue: Queue) -> None:
    await queue.enqueue("true", id="a")
    job = await queue.enqueue("true", id="w", after=["a", "a"])
    assert (job.after, job.blocked) == (("a",), 1)
    await _finish(queue, "a", JobState.COMPLETED)
    assert (await queue.get("w")).blocked == 0


async def test_completing_a_dependency_wakes_the_runners(queue: Queue) -> None:
    """The waiter may belong to another runner's queue: it must not wait for a poll."""
    store = queue.store
    woke = asyncio.Event()
    subscription = await store.subscribe(lambda kind: woke.set() if kind == "jobs" else None)
    try:
        await store.register_runner(runner_info("r", store.now(), wake=subscription.address))
        await queue.enqueue_many(
            [JobSpec("true", id="a"), JobSpec("true", id="b", after=("a",), queue="other")]
        )
        await asyncio.wait_for(woke.wait(), 5)  # the enqueue's
        woke.clear()
        (a,) = await store.claim("r", 5, 30.0)
        await store.finish([Finish("a", a.token, JobState.COMPLETED)])
        await asyncio.wait_for(woke.wait(), 5)
    finally:
        await subscription.close()
