"""Pause and cap, on every store: claims skip paused queues, never take a capped queue
past its cap, and fill their other slots from the other queues."""

from __future__ import annotations

import pytest

from queuectl.domain.models import Job, JobState
from queuectl.store import NewJob, Store
from queuectl.store.base import QueueSetting
from tests.helpers import Clock
from tests.store.test_contract import end

LEASE = 30.0


def job(job_id: str, queue: str, *, priority: int = 0) -> NewJob:
    return NewJob(id=job_id, command="true", max_retries=0, queue=queue, priority=priority)


def ids(jobs: list[Job]) -> list[str]:
    return sorted(j.id for j in jobs)


async def test_a_paused_queue_is_not_claimed_until_resumed(store: Store) -> None:
    await store.set_paused(["slow"], True)  # before it has any job
    await store.enqueue([job("s1", "slow"), job("f1", "fast"), job("s2", "slow")])
    assert ids(await store.claim("r", 8, LEASE)) == ["f1"]
    assert await store.claim("r", 8, LEASE, ["slow"]) == []
    assert await store.claim("r", 8, LEASE, ["slow", "fast"]) == []
    await store.set_paused(["slow"], False)
    assert ids(await store.claim("r", 8, LEASE, ["slow"])) == ["s1", "s2"]


async def test_a_cap_bounds_the_processing_jobs_of_its_queue(store: Store) -> None:
    await store.enqueue([job(f"c{i}", "capped") for i in range(6)])
    await store.set_cap("capped", 2)
    first = await store.claim("r1", 8, LEASE)
    assert ids(first) == ["c0", "c1"]
    assert await store.claim("r2", 8, LEASE) == []  # another runner: the cap is global
    assert await store.claim("r2", 8, LEASE, ["capped"]) == []
    # A finish frees room that the same exchange takes at once.
    done, taken = await store.exchange([end(first[0], JobState.COMPLETED)], "r1", 8, LEASE)
    assert done == {"c0"}
    assert ids(taken) == ["c2"]
    await store.set_cap("capped", 3)
    assert ids(await store.claim("r2", 8, LEASE, ["capped", "other"])) == ["c3"]
    await store.set_cap("capped", None)
    assert ids(await store.claim("r2", 8, LEASE)) == ["c4", "c5"]


async def test_a_capped_queue_does_not_starve_the_others(store: Store) -> None:
    # The capped queue's jobs come first in claim order; the free slots go elsewhere.
    await store.enqueue([job(f"c{i}", "capped", priority=5) for i in range(5)])
    await store.enqueue([job(f"o{i}", "other") for i in range(5)])
    await store.set_cap("capped", 1)
    assert ids(await store.claim("r", 4, LEASE)) == ["c0", "o0", "o1", "o2"]


async def test_a_capped_queue_keeps_claim_order_across_priorities(store: Store) -> None:
    await store.enqueue(
        [
            job("low", "q", priority=1),
            job("mid1", "q", priority=5),
            job("top", "q", priority=9),
            job("mid2", "q", priority=5),
        ]
    )
    await store.set_cap("q", 3)
    taken = await store.claim("r", 8, LEASE)
    assert [j.id for j in taken] == ["top", "mid1", "mid2"]


async def test_a_paused_capped_queue_stays_paused(store: Store) -> None:
    await store.enqueue([job("a", "q")])
    await store.set_cap("q", 5)
    await store.set_paused(["q"], True)
    assert await store.claim("r", 8, LEASE) == []
    await store.set_paused(["q"], False)
    assert ids(await store.claim("r", 8, LEASE)) == ["a"]


async def test_settings_are_kept_only_while_set(store: Store) -> None:
    assert await store.queue_settings() == {}
    await store.set_paused(["b", "a"], True)
    await store.set_cap("a", 4)
    await store.set_cap("c", 1)
    assert await store.queue_settings() == {
        "a": QueueSetting(True, 4),
        "b": QueueSetting(True, None),
        "c": QueueSetting(False, 1),
    }
    await store.set_paused(["a", "b"], False)
    await store.set_cap("c", None)
    assert await store.queue_settings() == {"a": QueueSetting(False, 4)}


async def test_oldest_runnable_is_the_earliest_due_job_per_queue(
    store: Store, clock: Clock
) -> None:
    start = store.now()
    await store.enqueue([job("late", "q", priority=9)])
    clock.advance(10)
    await store.enqueue([job("early-low", "q2", priority=-3)])
    await store.enqueue([NewJob("delayed", "true", 0, queue="q3", delay=100)])
    await store.enqueue([NewJob("x", "true", 0, queue="q2", priority=7)])
    oldest = await store.oldest_runnable(["q", "q2", "q3", "none"])
    assert oldest["q"] == pytest.approx(start)
    assert oldest["q2"] == pytest.approx(start + 10)
    assert oldest["q3"] == pytest.approx(start + 110)  # due later: its run_at
    assert "none" not in oldest
    await store.claim("r", 8, LEASE, ["q"])
    assert "q" not in await store.oldest_runnable(["q"])
