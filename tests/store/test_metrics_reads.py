"""What /metrics reads from every store: the latency histograms runners add to, each
queue's oldest runnable job, and ``ready_at`` (when a job's last dependency completed)."""

from __future__ import annotations

from queuectl.domain.histograms import BUCKET_NAMES, SUM
from queuectl.domain.models import JobState
from queuectl.store import NewJob, Store
from tests.helpers import EPOCH, Clock, utc
from tests.store.test_contract import claim_one, end


def job(job_id: str, queue: str = "q", **fields: object) -> NewJob:
    return NewJob(id=job_id, command="true", max_retries=0, queue=queue, **fields)  # type: ignore[arg-type]


async def test_recorded_observations_add_up_and_survive_purges(store: Store) -> None:
    assert await store.histograms() == {}
    await store.record_observations({("wait", "q", "0.1"): 2, ("wait", "q", SUM): 150_000})
    await store.record_observations(
        {("wait", "q", "0.1"): 1, ("wait", "q", "+Inf"): 1, ("wait", "q", SUM): 4_000_000_000}
    )
    await store.record_observations({("duration", "other", "5"): 3, ("duration", "other", SUM): 1})
    await store.enqueue([job("a")])
    await store.finish([end(await claim_one(store), JobState.COMPLETED)])
    assert await store.purge(states=frozenset({JobState.COMPLETED})) == 1

    found = await store.histograms()
    assert set(found) == {("wait", "q"), ("duration", "other")}
    wait = found["wait", "q"]
    assert dict(zip(BUCKET_NAMES, wait.counts, strict=True)) == {
        name: {"0.1": 3, "+Inf": 1}.get(name, 0) for name in BUCKET_NAMES
    }
    assert wait.sum == 4_000.15
    assert found["duration", "other"].observations == 3


async def test_oldest_runnable_is_the_earliest_run_at_over_every_priority(
    store: Store, clock: Clock
) -> None:
    await store.enqueue(
        [
            job("old-low", run_at=EPOCH - 100),
            job("new-high", priority=5, run_at=EPOCH - 10),
            job("later", queue="scheduled", run_at=EPOCH + 60),
            job("taken", queue="busy", run_at=EPOCH - 500),
        ]
    )
    await store.enqueue([job("blocked", queue="blocked", after=("later",), run_at=EPOCH - 900)])
    taken = await store.claim("r", 1, 30.0, ["busy"])
    assert [j.id for j in taken] == ["taken"]
    oldest = await store.oldest_runnable(["q", "scheduled", "busy", "blocked", "none"])
    assert oldest == {"q": EPOCH - 100, "scheduled": EPOCH + 60}


async def test_ready_at_is_when_the_last_dependency_completed(store: Store, clock: Clock) -> None:
    await store.enqueue([job("a"), job("b"), job("w", after=("a", "b"))])
    a, b = await store.claim("r", 2, 30.0)
    assert (await store.get("w")).ready_at is None
    clock.advance(5)
    await store.finish([end(a, JobState.COMPLETED)])
    clock.advance(7)
    await store.finish([end(b, JobState.COMPLETED)])
    clock.advance(3)
    waiter = await claim_one(store)
    assert (waiter.id, waiter.ready_at, waiter.run_at) == ("w", utc(EPOCH + 12), utc(EPOCH))
    assert waiter.started_at == utc(EPOCH + 15)
