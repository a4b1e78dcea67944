"""The throughput chart: its minutes from ``Queue.outcomes_by_minute``, and its bars."""

from __future__ import annotations

import pytest

from queuectl.api.queue import Queue
from queuectl.domain import minutes
from queuectl.domain.errors import InvalidInput
from queuectl.store import open_store
from queuectl.web.chart import SERIES, bars
from tests.conftest import FAST


@pytest.fixture
async def queue() -> Queue:
    return Queue(await open_store("memory://"), FAST)


async def test_the_minutes_end_now_and_carry_every_outcome_even_zero(queue: Queue) -> None:
    now = minutes.floor(queue.store.now())
    await queue.store.record_observations(
        {(minutes.MINUTE, "default", minutes.name(now - 60, "failed")): 2}
    )
    shown = await queue.outcomes_by_minute(60)
    assert [m for m, _ in shown] == list(range(now - 59 * 60, now + 1, 60))
    assert shown[-2][1] == {"completed": 0, "failed": 2, "dead": 0, "cancelled": 0}
    assert shown[-1][1] == dict.fromkeys(SERIES, 0)


@pytest.mark.parametrize("count", [0, minutes.KEEP + 1])
async def test_more_minutes_than_kept_or_none_are_refused(queue: Queue, count: int) -> None:
    with pytest.raises(InvalidInput, match="minutes must be from 1 to"):
        await queue.outcomes_by_minute(count)


def test_bars_stack_each_minute_and_scale_to_the_busiest() -> None:
    minutes_ = [
        (0, {"completed": 2, "failed": 1, "dead": 1, "cancelled": 0}),
        (60, dict.fromkeys(SERIES, 0)),
    ]
    drawn, top = bars(minutes_)
    assert top == 4
    assert [(b.series, b.height) for b in drawn] == [
        ("completed", 60.0),
        ("failed", 30.0),
        ("dead", 30.0),
    ]
    assert drawn[-1].y == 0.0  # the stack reaches the top
