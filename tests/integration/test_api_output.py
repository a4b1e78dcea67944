"""The embedding API: output as text, and events that carry the job as recorded."""

from __future__ import annotations

import dataclasses

from queuectl.api.queue import Queue
from queuectl.domain.models import JobState
from queuectl.runner.events import JobEvent
from tests.helpers import run_burst


async def test_output_gives_each_stream_as_text(queue: Queue) -> None:
    job = await queue.enqueue("printf 'caf\\303\\251 \\377\\n'; echo oops >&2")
    await run_burst(queue.runner(burst=True))
    output = await queue.output(job.id)
    assert output.stdout == "café \ufffd\n"
    assert output.stderr == "oops\n"
    assert output[1].head == b"caf\xc3\xa9 \xff\n"  # the bytes, by stream, as before
    never = await queue.enqueue("true", delay=3600)
    assert (await queue.output(never.id)).stdout == ""


async def test_output_text_marks_what_was_not_kept(queue: Queue) -> None:
    queue.settings = dataclasses.replace(queue.settings, output_limit=100)
    job = await queue.enqueue("seq 1000")
    await run_burst(queue.runner(burst=True))
    text = (await queue.output(job.id)).stdout
    assert text.startswith("1\n2\n")
    assert "bytes not kept …]\n" in text
    assert text.endswith("999\n1000\n")
    assert (await queue.output(job.id)).stderr == ""


async def test_an_event_carries_the_job_in_its_new_state(queue: Queue) -> None:
    events: list[JobEvent] = []
    await queue.enqueue("true", id="ok")
    await queue.enqueue("exit 3", id="retried", max_retries=1)
    await run_burst(queue.runner(burst=True, on_event=events.append))
    seen = [(e.job.id, e.job.state, e.state, e.job.attempts, e.job.exit_code) for e in events]
    assert sorted(seen) == [
        ("ok", JobState.COMPLETED, JobState.COMPLETED, 1, 0),
        ("retried", JobState.DEAD, JobState.DEAD, 2, 3),
        ("retried", JobState.FAILED, JobState.FAILED, 1, 3),
    ]
    assert all(e.job.runner_id is None for e in events)
