"""A burst runner does the work its own jobs make runnable, in the queues it consumes."""

from __future__ import annotations

import json

from queuectl.api.queue import Queue
from queuectl.domain.models import JobState
from queuectl.domain.spec import JobSpec
from tests.conftest import CLI
from tests.helpers import run_burst


async def _states(queue: Queue, *job_ids: str) -> list[JobState]:
    return [(await queue.get(job_id)).state for job_id in job_ids]


async def test_a_burst_on_named_queues_runs_the_dependents_its_jobs_release(
    queue: Queue,
) -> None:
    await queue.enqueue_many(
        [
            JobSpec("sleep 0.5", id="a"),
            JobSpec("true", id="b", after=("a",)),
            JobSpec("sleep 0.2", id="c", queue="other"),
            JobSpec("true", id="d", queue="third", after=("c",)),
            JobSpec("true", id="e", after=("d",)),
        ]
    )
    runner = queue.runner(concurrency=4, burst=True, queues=("default", "other", "third"))
    await run_burst(runner)
    assert await _states(queue, "a", "b", "c", "d", "e") == [JobState.COMPLETED] * 5


async def test_a_burst_does_not_wait_for_dependents_in_queues_it_does_not_consume(
    queue: Queue,
) -> None:
    await queue.enqueue_many(
        [JobSpec("sleep 0.2", id="a"), JobSpec("true", id="b", queue="other", after=("a",))]
    )
    await run_burst(queue.runner(concurrency=4, burst=True, queues=("default",)), within=10)
    assert await _states(queue, "a", "b") == [JobState.COMPLETED, JobState.PENDING]
    assert (await queue.get("b")).blocked == 0


def test_the_cli_burst_on_the_default_queue_runs_a_dependent(cli: CLI) -> None:
    cli("enqueue", json.dumps({"id": "A", "command": "sleep 0.5"}), check=True)
    cli("enqueue", json.dumps({"id": "B", "command": "true", "after": ["A"]}), check=True)
    cli("worker", "start", "--burst", "--count", "4", "--queue", "default", "--quiet", check=True)
    shown = json.loads(cli("show", "B", "--json", check=True).stdout)
    assert shown["state"] == "completed"
