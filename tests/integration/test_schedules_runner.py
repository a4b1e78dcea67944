"""Schedules fired by a real runner on the real clock: it wakes for a new schedule at
once, and skips ticks while a job that outlasts the period runs (``no_overlap``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.models import Job, Outcome
from queuectl.store import open_store
from tests.conftest import FAST, store_url
from tests.helpers import eventually, running


@pytest.fixture
async def shared_queue(shared_store_kind: str, home: Path, tmp_path: Path) -> AsyncIterator[Queue]:
    store = await open_store(store_url(shared_store_kind, tmp_path))
    try:
        yield Queue(store, FAST)
    finally:
        await store.close()


async def count_jobs(queue: Queue) -> int:
    return sum((await queue.counts()).values())


async def test_an_idle_runner_wakes_for_a_new_schedule(shared_queue: Queue) -> None:
    """The runner sleeps until the next tick of its schedules (none: a minute); a new
    schedule's wake-up (a datagram, or NOTIFY) makes it look again at once."""

    async def noop(job: Job) -> None:
        return None

    runner = shared_queue.runner(execute=noop)
    async with running(runner):
        # Its first pass found no schedule: it sleeps for the fallback minute now.
        await asyncio.wait_for(runner._firing.asleep.wait(), 10)
        await shared_queue.schedule("soon", "* * * * * *", "true")
        await eventually(lambda: _at_least(shared_queue, 1), within=3)


async def _at_least(queue: Queue, n: int) -> bool:
    return await count_jobs(queue) >= n


async def test_no_overlap_skips_ticks_while_a_longer_job_runs(home: Path) -> None:
    store = await open_store(str(home / "queuectl.db"))
    queue = Queue(store, FAST)
    release = asyncio.Event()

    async def long_job(job: Job) -> Outcome | None:
        await release.wait()  # longer than the one-second period, until released
        return None

    try:
        async with running(queue.runner(execute=long_job)):
            await queue.schedule("slow", "* * * * * *", "true", no_overlap=True)

            async def skipped(n: int) -> bool:
                return (await queue.get_schedule("slow")).skipped >= n

            await eventually(lambda: skipped(2), within=5)
            assert await count_jobs(queue) == 1
            release.set()
            await eventually(lambda: _at_least(queue, 2), within=3)
        history = await queue.schedule_history("slow")
        outcomes = [f.outcome for f in reversed(history)]
        assert outcomes[0] == "fired"
        assert outcomes[1:3] == ["skipped", "skipped"]
        assert [f.job_id is None for f in history] == [o == "skipped" for o in reversed(outcomes)]
    finally:
        await store.close()
