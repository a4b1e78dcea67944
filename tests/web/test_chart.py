"""The throughput chart's history: a cold read of the hour, then only the last minutes."""

from __future__ import annotations

import pytest

from queuectl.api.queue import Queue
from queuectl.store import open_store
from queuectl.web.chart import SERIES, History, bars
from tests.conftest import FAST


class CountingQueue(Queue):
    """A real queue on the memory store that notes how many minutes each read asks for."""

    asked: list[int]

    async def finished_by_minute(self, minutes: int = 60) -> list[tuple[int, dict[str, int]]]:
        self.asked.append(minutes)
        return await super().finished_by_minute(minutes)


@pytest.fixture
async def queue() -> CountingQueue:
    counting = CountingQueue(await open_store("memory://"), FAST)
    counting.asked = []
    return counting


async def test_the_hour_is_read_once_then_only_the_last_minutes(queue: CountingQueue) -> None:
    history = History(queue, refresh=0)
    await queue.enqueue("true")
    await queue.runner(burst=True).run()
    first = await history.minutes()
    assert len(first) == 60
    assert first[-1][1]["completed"] == 1
    await queue.enqueue("exit 1", max_retries=0)
    await queue.runner(burst=True).run()
    second = await history.minutes()
    assert second[-1][1] == {"cancelled": 0, "completed": 1, "dead": 1}
    assert queue.asked == [60, 2]


async def test_reads_are_spaced_by_the_refresh_period(queue: CountingQueue) -> None:
    history = History(queue, refresh=3600)
    await history.minutes()
    await history.minutes()
    assert queue.asked == [60]


def test_bars_stack_each_minute_and_scale_to_the_busiest() -> None:
    minutes = [(0, {"completed": 2, "dead": 2, "cancelled": 0}), (60, dict.fromkeys(SERIES, 0))]
    drawn, top = bars(minutes)
    assert top == 4
    assert [(b.series, b.height) for b in drawn] == [("completed", 60.0), ("dead", 60.0)]
    assert drawn[1].y == 0.0  # the stack reaches the top
