from __future__ import annotations

from queuectl.api import Queue
from queuectl.models import JobState


async def test_enqueue_then_run_to_completion(queue: Queue) -> None:
    job = await queue.enqueue("true")
    stats = await queue.runner(burst=True).run()
    assert stats.completed == 1
    assert (await queue.get(job.id)).state == JobState.COMPLETED
