"""A runner with N workers runs N commands at once, and never more.

Overlap is proven with the timestamps the commands themselves write, not by timing
the test: command B started before command A ended means they ran together.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from queuectl.api.queue import Queue
from queuectl.domain.models import JobState
from tests.helpers import read_times, run_burst


def timed(work: Path, seconds: float) -> str:
    """A command that records when it started and ended, around a sleep."""
    stamp = f"{work}/$QUEUECTL_JOB_ID"
    return f"date +%s.%N > {stamp}.start; sleep {seconds}; date +%s.%N > {stamp}.end"


def intervals(work: Path, ids: list[str]) -> list[tuple[float, float]]:
    return [(read_times(work / f"{i}.start"), read_times(work / f"{i}.end")) for i in ids]


async def test_count_4_runs_4_sleeps_at_the_same_time(queue: Queue, work: Path) -> None:
    ids = await queue.enqueue_many([timed(work, 1)] * 4)
    stats = await run_burst(queue.runner(concurrency=4, burst=True))
    assert stats.completed == 4
    spans = intervals(work, ids)
    latest_start = max(start for start, _ in spans)
    earliest_end = min(end for _, end in spans)
    assert latest_start < earliest_end, spans  # all four were running at one moment


async def test_a_runner_never_runs_more_than_its_count(queue: Queue, work: Path) -> None:
    ids = await queue.enqueue_many([timed(work, 0.2)] * 6)
    await run_burst(queue.runner(concurrency=2, burst=True))
    assert (await queue.counts())[JobState.COMPLETED] == 6
    spans = intervals(work, ids)
    for start, _ in spans:
        running_then = sum(1 for s, e in spans if s <= start <= e)
        assert running_then <= 2, spans


async def test_one_worker_runs_jobs_one_after_another(queue: Queue, work: Path) -> None:
    ids = await queue.enqueue_many([timed(work, 0.05)] * 3)
    await run_burst(queue.runner(concurrency=1, burst=True))
    spans = intervals(work, ids)  # claimed oldest first, so in this order
    for (_, previous_end), (next_start, _) in itertools.pairwise(spans):
        assert previous_end <= next_start, spans
