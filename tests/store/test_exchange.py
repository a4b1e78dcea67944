"""Store.exchange: the runner's round trip, finishing and claiming together."""

from __future__ import annotations

from queuectl.domain.models import JobState
from queuectl.store import Finish, Store
from tests.store.test_contract import LEASE, end, new


async def test_exchange_records_outcomes_and_claims_in_one_call(store: Store) -> None:
    await store.enqueue([new("a"), new("b"), new("c"), new("d")])
    _, (first, second) = await store.exchange([], "r1", 2, LEASE)
    applied, claimed = await store.exchange(
        [end(first, JobState.COMPLETED), end(second, JobState.FAILED, delay=60)], "r1", 2, LEASE
    )
    assert applied == {first.id, second.id}
    assert sorted(j.id for j in claimed) == ["c", "d"]
    assert all(j.state == JobState.PROCESSING and j.runner_id == "r1" for j in claimed)
    assert all(j.attempts == 1 and j.token == 1 for j in claimed)
    assert (await store.get(first.id)).state == JobState.COMPLETED
    assert (await store.get(second.id)).state == JobState.FAILED


async def test_exchange_fences_stale_outcomes_and_still_claims(store: Store) -> None:
    await store.enqueue([new("a"), new("b")])
    _, (job,) = await store.exchange([], "r1", 1, LEASE)
    stale = Finish(job.id, job.token + 7, JobState.COMPLETED)
    applied, claimed = await store.exchange([stale], "r1", 1, LEASE)
    assert applied == set()
    assert [j.id for j in claimed] == ["b"]
    assert (await store.get(job.id)).state == JobState.PROCESSING


async def test_exchange_with_nothing_to_claim_only_records(store: Store) -> None:
    await store.enqueue([new("a"), new("b")])
    _, (job,) = await store.exchange([], "r1", 1, LEASE)
    applied, claimed = await store.exchange([end(job, JobState.COMPLETED)], "r1", 0, LEASE)
    assert (applied, claimed) == ({job.id}, [])
    assert (await store.get("b")).state == JobState.PENDING


async def test_exchange_records_each_attempt_in_the_history(store: Store) -> None:
    await store.enqueue([new("a", max_retries=1)])
    _, (first,) = await store.exchange([], "r1", 1, LEASE)
    await store.exchange([end(first, JobState.PENDING)], "r1", 0, LEASE)
    _, (second,) = await store.exchange([], "r2", 1, LEASE)
    await store.exchange([end(second, JobState.COMPLETED, exit_code=0)], "r2", 0, LEASE)
    history = await store.attempts("a")
    assert [(a.number, a.token, a.runner_id) for a in history] == [(1, 1, "r1"), (2, 2, "r2")]
    assert all(a.ended_at is not None for a in history)
