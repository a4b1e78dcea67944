"""The API of unique keys and retry codes, on every store, with real commands."""

from __future__ import annotations

import json

import pytest

from queuectl.api.queue import Enqueued, EnqueueResult, Queue
from queuectl.domain.config import Settings
from queuectl.domain.errors import UniqueConflict
from queuectl.domain.models import JobState
from queuectl.domain.spec import iter_lines
from tests.helpers import run_burst


async def test_submit_says_whether_the_job_was_created(queue: Queue) -> None:
    first = await queue.submit("true", unique_key="sync")
    assert isinstance(first, EnqueueResult)
    assert first.created
    again = await queue.submit("echo other", unique_key="sync")
    assert (again.created, again.job.id, again.job.command) == (False, first.job.id, "true")
    # enqueue keeps its type: the job there comes back
    assert (await queue.enqueue("echo third", unique_key="sync")).id == first.job.id
    assert [j.id async for j in queue.jobs()] == [first.job.id]


async def test_on_conflict_error_raises_and_stores_nothing(queue: Queue) -> None:
    first = await queue.enqueue("true", unique_key="sync")
    with pytest.raises(UniqueConflict) as caught:
        await queue.enqueue("true", unique_key="sync", on_conflict="error")
    assert caught.value.existing_id == first.id
    assert caught.value.exit_code == 1
    assert [j.id async for j in queue.jobs()] == [first.id]


async def test_submit_many_and_enqueue_many_name_the_holder(queue: Queue) -> None:
    held = await queue.enqueue("true", unique_key="a")
    done = await queue.submit_many(
        [
            {"id": "x", "command": "true", "unique_key": "a"},
            {"id": "y", "command": "true", "unique_key": "b"},
            {"id": "z", "command": "true", "unique_key": "b"},
        ]
    )
    assert done == [Enqueued(held.id, created=False), Enqueued("y"), Enqueued("y", created=False)]
    assert await queue.enqueue_many([{"command": "true", "unique_key": "b"}]) == ["y"]


async def test_enqueue_all_reports_each_job_left_out_with_its_position(queue: Queue) -> None:
    held = await queue.enqueue("true", unique_key="a")
    lines = [
        json.dumps({"id": f"j{n}", "command": "true", "unique_key": key})
        for n, key in enumerate(["a", "b", "c", "b", "d", "c"])
    ]
    ids: list[str] = []
    existing: list[tuple[int, str]] = []
    count = await queue.enqueue_all(
        (spec for _, spec in iter_lines(lines)),
        on_ids=ids.extend,
        on_existing=lambda n, holder: existing.append((n, holder)),
        chunk=2,
    )
    assert count == 3
    assert ids == [held.id, "j1", "j2", "j1", "j4", "j2"]
    assert existing == [(0, held.id), (3, "j1"), (5, "j2")]


async def test_enqueue_all_with_an_error_conflict_names_the_place_and_stores_nothing(
    queue: Queue,
) -> None:
    specs = [
        {"command": "true", "unique_key": "k"},
        {"command": "true"},
        {"command": "true", "unique_key": "k", "on_conflict": "error"},
    ]
    with pytest.raises(UniqueConflict, match=r"^line 3: unique key 'k'"):
        await queue.enqueue_all(specs, where=lambda n: f"line {n + 1}", chunk=2)
    assert [j async for j in queue.jobs()] == []


async def test_retry_of_a_dead_job_refuses_while_its_key_is_live(queue: Queue) -> None:
    dead = await queue.enqueue("exit 1", unique_key="k", max_retries=0)
    await run_burst(queue.runner(burst=True))
    assert (await queue.get(dead.id)).state == JobState.DEAD
    live = await queue.enqueue("true", unique_key="k")
    assert live.id != dead.id
    with pytest.raises(UniqueConflict) as caught:
        await queue.retry(dead.id)
    assert caught.value.existing_id == live.id
    assert await queue.requeue([dead.id]) == {dead.id: "taken"}
    await run_burst(queue.runner(burst=True))  # the live one completes: the key is free
    assert (await queue.retry(dead.id)).state == JobState.PENDING


async def test_an_exit_code_not_in_retry_on_is_not_retried(queue: Queue) -> None:
    job = await queue.enqueue("exit 3", retry_on=[75], max_retries=3)
    await run_burst(queue.runner(burst=True))
    done = await queue.get(job.id)
    assert (done.state, done.attempts, done.exit_code) == (JobState.DEAD, 1, 3)
    assert done.last_error == "no retry: exit code 3 is not in retry_on (75)\nexit code 3"


async def test_a_listed_exit_code_and_a_timeout_are_retried(queue: Queue) -> None:
    listed = await queue.enqueue("exit 75", retry_on=[75], max_retries=1, backoff_max=0.01)
    slow = await queue.enqueue(
        "sleep 30", retry_on=[], max_retries=1, backoff_max=0.01, timeout=0.2
    )
    await run_burst(queue.runner(burst=True, concurrency=2))
    for job_id, reason in ((listed.id, "exit"), (slow.id, "timeout")):
        done = await queue.get(job_id)
        assert (done.state, done.attempts) == (JobState.DEAD, 2)
        assert [a.reason for a in await queue.attempts(job_id)] == [reason, reason]


async def test_the_config_default_applies_to_jobs_that_do_not_say(queue: Queue) -> None:
    configured = Queue(queue.store, Settings(retry_on=(75,)))
    assert (await configured.enqueue("true")).retry_on == (75,)
    assert (await configured.enqueue("true", retry_on=[1, 2])).retry_on == (1, 2)
    assert (await queue.enqueue("true")).retry_on is None
