"""Scheduling on PostgreSQL: what concurrency and depth add to the shared contract tests."""

from __future__ import annotations

import asyncio
import random

import pytest

from queuectl.domain.models import JobState
from queuectl.store.base import Finish, NewJob, WakeKind
from queuectl.store.postgres.store import PostgresStore
from tests.helpers import eventually

pytestmark = pytest.mark.postgres


def new(job_id: str, *after: str, queue: str = "default") -> NewJob:
    return NewJob(id=job_id, command="true", max_retries=0, after=after, queue=queue)


async def finish_soon(store: PostgresStore, finish: Finish, rng: random.Random) -> set[str]:
    """Finish after a random pause, so that it lands anywhere in a racing enqueue."""
    await asyncio.sleep(rng.uniform(0, 0.004))
    return await store.finish([finish])


async def test_a_waiter_enqueued_while_its_dependency_completes_is_never_stranded(
    pg_url: str,
) -> None:
    """Enqueue (linking) and finish (resolving) race on two connections, many times."""
    one, two = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        rounds, rng = 100, random.Random(3)
        await one.enqueue([new(f"dep{i}") for i in range(rounds)])
        claimed = {j.id: j for j in await one.claim("r", rounds, 30)}
        for i in range(rounds):
            dep = claimed[f"dep{i}"]
            await asyncio.gather(
                finish_soon(one, Finish(dep.id, dep.token, JobState.COMPLETED), rng),
                two.enqueue([new(f"w{i}", dep.id)]),
            )
        stranded = [j.id async for j in one.list_jobs(state=JobState.PENDING) if j.blocked]
        assert stranded == []
        assert len(await one.claim("r", rounds, 30)) == rounds
    finally:
        await one.close()
        await two.close()


async def test_a_dependency_that_dies_while_a_waiter_is_enqueued_refuses_or_cancels(
    pg_url: str,
) -> None:
    one, two = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        rounds, rng = 60, random.Random(5)
        await one.enqueue([new(f"dep{i}") for i in range(rounds)])
        claimed = {j.id: j for j in await one.claim("r", rounds, 30)}
        for i in range(rounds):
            dep = claimed[f"dep{i}"]
            await asyncio.gather(
                finish_soon(one, Finish(dep.id, dep.token, JobState.DEAD), rng),
                two.enqueue([new(f"w{i}", dep.id)]),
                return_exceptions=True,
            )
        # Each waiter was either refused (the death came first) or cancelled with it.
        waiters = [j async for j in one.list_jobs() if j.id.startswith("w")]
        assert {j.state for j in waiters} <= {JobState.CANCELLED}
    finally:
        await one.close()
        await two.close()


async def test_a_batched_finish_on_another_host_cancels_a_deep_chain(pg_url: str) -> None:
    enqueuer, runner = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        depth = 1500  # deeper than trigger recursion could go
        chain = [new("c0")] + [new(f"c{i}", f"c{i - 1}") for i in range(1, depth)]
        await enqueuer.enqueue([*chain, new("side"), new("after-side", "side")])
        jobs = {j.id: j for j in await runner.claim("r", 10, 30)}
        assert set(jobs) == {"c0", "side"}
        done = await runner.finish(
            [
                Finish("side", jobs["side"].token, JobState.COMPLETED),
                Finish("c0", jobs["c0"].token, JobState.DEAD, exit_code=1),
            ]
        )
        assert done == {"side", "c0"}
        c1, last = await enqueuer.get("c1"), await enqueuer.get(f"c{depth - 1}")
        assert (c1.state, c1.last_error) == (
            JobState.CANCELLED,
            "cancelled: it runs after job c0, which ended dead",
        )
        assert (last.state, last.last_error) == (
            JobState.CANCELLED,
            f"cancelled: it runs after job c{depth - 2}, which ended cancelled",
        )
        assert last.finished_at == last.updated_at == (await enqueuer.get("c0")).updated_at
        assert (await enqueuer.get("after-side")).blocked == 0
        assert [j.id for j in await runner.claim("r", 10, 30)] == ["after-side"]
    finally:
        await enqueuer.close()
        await runner.close()


async def test_a_waiter_is_cancelled_for_its_own_dependency_that_ended(
    pg_store: PostgresStore,
) -> None:
    await pg_store.enqueue([new("a"), new("b", "a"), new("c", "b", "a")])
    (a,) = await pg_store.claim("r", 5, 30)
    await pg_store.finish([Finish("a", a.token, JobState.CANCELLED)])
    for job_id in ("b", "c"):
        job = await pg_store.get(job_id)
        assert (job.state, job.last_error) == (
            JobState.CANCELLED,
            "cancelled: it runs after job a, which ended cancelled",
        )


async def test_completing_a_dependency_wakes_runners_of_other_hosts(pg_url: str) -> None:
    listening, store = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    wakes: list[WakeKind] = []
    subscription = await listening.subscribe(wakes.append)
    try:
        await store.enqueue([new("a"), new("b", "a", queue="elsewhere")])
        (a,) = await store.claim("r", 5, 30)
        await eventually(lambda: _has(wakes, "jobs"))
        wakes.clear()
        await store.finish([Finish("a", a.token, JobState.COMPLETED)])
        await eventually(lambda: _has(wakes, "jobs"))
        assert [j.id for j in await listening.claim("r2", 5, 30, ["elsewhere"])] == ["b"]
    finally:
        await subscription.close()
        await store.close()
        await listening.close()


async def _has(wakes: list[WakeKind], kind: WakeKind) -> bool:
    return kind in wakes


async def test_concurrent_purges_delete_each_job_once(pg_url: str) -> None:
    stores = [await PostgresStore.open(pg_url) for _ in range(3)]
    try:
        total = 900
        await stores[0].enqueue([new(f"j{i}") for i in range(total)])
        claimed = await stores[0].claim("r", total, 30)
        await stores[0].finish([Finish(j.id, j.token, JobState.COMPLETED) for j in claimed])

        async def purge(store: PostgresStore) -> int:
            deleted = 0
            while n := await store.purge(states=frozenset({JobState.COMPLETED}), limit=50):
                deleted += n
            return deleted

        counts = await asyncio.gather(*(purge(s) for s in stores))
        assert sum(counts) == total
        assert await stores[0].count_jobs() == {}
    finally:
        for store in stores:
            await store.close()
