"""The queue controls of the API on every store: pause, resume, limit, overview."""

from __future__ import annotations

import pytest

from queuectl import InvalidInput, JobState, Queue, QueueInfo
from queuectl.domain.limits import MAX_QUEUE_CAP


async def test_overview_lists_queues_with_jobs_or_settings(queue: Queue) -> None:
    await queue.enqueue("true", queue="work")
    await queue.enqueue("true", queue="work", delay=3600)
    await queue.pause_queues(["later"])  # no jobs yet
    await queue.limit_queue("work", 2)
    overview = await queue.queue_overview()
    assert [info.name for info in overview] == ["later", "work"]
    later, work = overview
    assert isinstance(later, QueueInfo)
    assert later == QueueInfo("later", dict.fromkeys(JobState, 0), True, None, None)
    assert work.counts == {**dict.fromkeys(JobState, 0), JobState.PENDING: 2}
    assert (work.paused, work.cap) == (False, 2)
    assert work.oldest_runnable_age is not None
    assert 0 <= work.oldest_runnable_age < 60
    await queue.resume_queues(["later"])
    await queue.limit_queue("work", None)
    assert [(i.name, i.paused, i.cap) for i in await queue.queue_overview()] == [
        ("work", False, None)
    ]


async def test_overview_has_no_age_when_nothing_is_due(queue: Queue) -> None:
    await queue.enqueue("true", queue="q", delay=3600)
    (info,) = await queue.queue_overview()
    assert info.oldest_runnable_age is None


async def test_a_paused_queue_accepts_jobs_that_wait(queue: Queue) -> None:
    await queue.pause_queues(["q"])
    job = await queue.enqueue("true", queue="q")
    assert await queue.store.claim("r", 4, 30.0) == []
    await queue.resume_queues(["q"])
    assert [j.id for j in await queue.store.claim("r", 4, 30.0)] == [job.id]


@pytest.mark.parametrize("cap", [0, -1, MAX_QUEUE_CAP + 1, True, 2.5, "3"])
async def test_a_bad_limit_is_refused_and_nothing_stored(queue: Queue, cap: object) -> None:
    with pytest.raises(InvalidInput, match="queue limit must be"):
        await queue.limit_queue("q", cap)  # type: ignore[arg-type]
    assert await queue.queue_overview() == []


@pytest.mark.parametrize("names", [["bad name"], [""], [], ["ok", "-no"]])
async def test_bad_queue_names_are_refused_and_nothing_stored(
    queue: Queue, names: list[str]
) -> None:
    with pytest.raises(InvalidInput):
        await queue.pause_queues(names)
    with pytest.raises(InvalidInput):
        await queue.limit_queue(names[-1] if names else "", 3)
    assert await queue.queue_overview() == []
