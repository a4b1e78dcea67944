"""The PostgreSQL store on a real server: the contract in brief, and what is its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.domain.models import JobState, RunnerInfo, from_epoch
from queuectl.runner.registry import live_runners
from queuectl.store import open_store
from queuectl.store.base import Finish, NewJob, WakeKind
from queuectl.store.postgres.store import PostgresStore
from tests.helpers import eventually
from tests.postgres.conftest import Admin

pytestmark = pytest.mark.postgres


def new(job_id: str, **fields: object) -> NewJob:
    return NewJob(id=job_id, command=f"echo {job_id}", max_retries=2, **fields)  # type: ignore[arg-type]


class Clock:
    """An injected clock: the store stamps and compares times with it, not the server's."""

    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_open_store_picks_postgres_for_both_schemes(pg_url: str) -> None:
    for url in (pg_url, pg_url.replace("postgresql://", "postgres://", 1)):
        store = await open_store(url)
        try:
            assert isinstance(store, PostgresStore)
        finally:
            await store.close()


async def test_enqueue_get_count_list(pg_store: PostgresStore) -> None:
    await pg_store.enqueue([new(f"j{i:04}") for i in range(1203)])
    job = await pg_store.get("j0007")
    assert (job.state, job.attempts, job.max_retries, job.command) == (
        JobState.PENDING,
        0,
        2,
        "echo j0007",
    )
    assert job.created_at.tzinfo is not None
    counts = await pg_store.count_jobs()
    assert counts == {"default": {s: (1203 if s == JobState.PENDING else 0) for s in JobState}}
    # Paged (500 a page), oldest first, with and without a state and a limit.
    ids = [j.id async for j in pg_store.list_jobs()]
    assert ids == [f"j{i:04}" for i in range(1203)]
    assert [j.id async for j in pg_store.list_jobs(state=JobState.PENDING, limit=501)] == ids[:501]
    assert [j.id async for j in pg_store.list_jobs(state=JobState.DEAD)] == []
    with pytest.raises(JobNotFound):
        await pg_store.get("nope")


async def test_bulk_enqueue_is_all_or_nothing(pg_store: PostgresStore) -> None:
    await pg_store.enqueue([new("taken")])
    with pytest.raises(DuplicateJob) as caught:
        await pg_store.enqueue([new("a"), new("b"), new("taken"), new("c")])
    assert caught.value.job_id == "taken"
    with pytest.raises(DuplicateJob) as caught:
        await pg_store.enqueue([new("x"), new("y"), new("x")])
    assert caught.value.job_id == "x"
    assert [j.id async for j in pg_store.list_jobs()] == ["taken"]
    assert (await pg_store.get("taken")).command == "echo taken"


async def test_claim_order_and_fencing(pg_store: PostgresStore) -> None:
    await pg_store.enqueue(
        [new("low"), new("high", priority=5), new("low2"), new("later", delay=60)]
    )
    claimed = await pg_store.claim("r1", 10, 30)
    assert [j.id for j in claimed] == ["high", "low", "low2"]
    first = claimed[0]
    assert (first.state, first.attempts, first.token, first.runner_id) == (
        JobState.PROCESSING,
        1,
        1,
        "r1",
    )
    assert first.lease_until is not None
    assert first.started_at is not None
    assert 29 < (first.lease_until - first.started_at).total_seconds() <= 30
    assert await pg_store.claim("r2", 10, 30) == []  # "later" is not due
    stale = Finish("high", first.token - 1, JobState.COMPLETED, exit_code=0)
    assert await pg_store.finish([stale]) == set()
    done = await pg_store.finish(
        [
            Finish("high", first.token, JobState.COMPLETED, exit_code=0),
            Finish("low", 1, JobState.FAILED, delay=30, exit_code=3, last_error="boom"),
            Finish("low2", 1, JobState.PENDING, counted=False),
        ]
    )
    assert done == {"high", "low", "low2"}
    high, low, low2 = [await pg_store.get(i) for i in ("high", "low", "low2")]
    assert (high.state, high.exit_code, high.runner_id, high.lease_until) == (
        JobState.COMPLETED,
        0,
        None,
        None,
    )
    assert (low.state, low.attempts, low.exit_code, low.last_error) == (
        JobState.FAILED,
        1,
        3,
        "boom",
    )
    assert low.run_at > low.updated_at
    assert (low2.state, low2.attempts) == (JobState.PENDING, 0)  # not counted
    # A finish applies once: the same token again finds the job no longer processing.
    assert await pg_store.finish([Finish("high", first.token, JobState.FAILED)]) == set()
    assert (await pg_store.claim("r3", 10, 30))[0].token == 2  # low2, claimed again


async def test_concurrent_claims_never_share_a_job(pg_url: str) -> None:
    stores = [await PostgresStore.open(pg_url) for _ in range(4)]
    try:
        await stores[0].enqueue([new(f"j{i}") for i in range(400)])

        async def drain(store: PostgresStore, runner: str) -> list[str]:
            got: list[str] = []
            while batch := await store.claim(runner, 7, 30):
                got += [j.id for j in batch]
            return got

        results = await asyncio.gather(
            *(drain(s, f"r{n}{k}") for n, s in enumerate(stores) for k in range(3))
        )
        everything = [i for got in results for i in got]
        assert sorted(everything) == sorted(f"j{i}" for i in range(400))
        assert sum(1 for got in results if got) > 1  # they really did share the work
    finally:
        for store in stores:
            await store.close()


async def test_racing_finishes_of_one_claim_apply_once(pg_url: str) -> None:
    """A runner and another host's recovery finishing the same claim at the same time."""
    one, two = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        await one.enqueue([new(f"j{i}") for i in range(60)])
        claimed = await one.claim("r", 60, 30)
        results = await asyncio.gather(
            *(
                store.finish([Finish(j.id, j.token, state, exit_code=code)])
                for j in claimed
                for store, state, code in (
                    (one, JobState.COMPLETED, 0),
                    (two, JobState.PENDING, None),
                )
            )
        )
        applied = [job_id for got in results for job_id in got]
        assert sorted(applied) == sorted(j.id for j in claimed)  # each exactly once
        for j in claimed:
            row = await one.get(j.id)
            winner = JobState.COMPLETED if j.id in results[2 * claimed.index(j)] else None
            assert row.state == (winner or JobState.PENDING)
    finally:
        await one.close()
        await two.close()


async def test_retry_dead_is_a_compare_and_set(pg_store: PostgresStore) -> None:
    await pg_store.enqueue([new("d")])
    [job] = await pg_store.claim("r", 1, 30)
    await pg_store.finish([Finish("d", job.token, JobState.DEAD, exit_code=1, last_error="x")])
    retried = await pg_store.retry_dead("d")
    assert (retried.state, retried.attempts) == (JobState.PENDING, 0)
    with pytest.raises(InvalidState, match="pending, not dead"):
        await pg_store.retry_dead("d")
    with pytest.raises(JobNotFound):
        await pg_store.retry_dead("missing")


async def test_leases_heartbeat_and_expiry_follow_the_store_clock(pg_url: str) -> None:
    clock = Clock()
    store = await PostgresStore.open(pg_url, clock=clock)
    try:
        assert store.now() == clock.t
        await store.enqueue([new("a"), new("b"), new("soon", delay=10)])
        assert await store.next_run_at(states=frozenset({JobState.PENDING})) == clock.t
        claimed = await store.claim("r1", 2, 5)
        assert {j.id for j in claimed} == {"a", "b"}
        assert await store.next_run_at(states=frozenset({JobState.PENDING})) == clock.t + 10
        assert await store.next_run_at(states=frozenset({JobState.FAILED})) is None
        assert {j.id for j in await store.claims_of("r1")} == {"a", "b"}
        clock.t += 4
        beat = await store.heartbeat("r1", 5)  # renews both leases until t + 9
        assert beat.held == {"a", "b"}
        assert not beat.registered
        clock.t += 4  # t0 + 8
        assert await store.expired_claims() == []
        await store.finish([Finish("a", 1, JobState.COMPLETED)])
        clock.t += 2  # t0 + 10
        expired = await store.expired_claims()
        assert [j.id for j in expired] == ["b"]
        assert [j.id for j in await store.claim("r2", 5, 5)] == ["soon"]
    finally:
        await store.close()


async def test_server_clock_by_default(pg_store: PostgresStore, admin: Admin) -> None:
    server = await admin.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
    assert abs(pg_store.now() - server) < 1.0
    await pg_store.enqueue([new("j", delay=100)])
    job = await pg_store.get("j")
    assert 99 < (job.run_at - job.created_at).total_seconds() < 101


def runner_info(runner_id: str, host: str = "elsewhere", pid: int = 4242) -> RunnerInfo:
    moment = from_epoch(time.time())
    return RunnerInfo(
        id=runner_id,
        host=host,
        pid=pid,
        started_at=moment,
        heartbeat_at=moment,
        concurrency=3,
        pid_start=77,
        queues=("default", "mail"),
    )


async def test_runner_registry_and_stop_requests(pg_store: PostgresStore) -> None:
    wakes: list[WakeKind] = []
    woke = asyncio.Event()

    def on_wake(kind: WakeKind) -> None:
        wakes.append(kind)
        woke.set()

    subscription = await pg_store.subscribe(on_wake)
    try:
        await pg_store.register_runner(runner_info("r1"))
        await pg_store.register_runner(runner_info("r2", host="there"))
        listed = await pg_store.list_runners()
        assert [(r.id, r.host, r.concurrency, r.queues, r.pid_start) for r in listed] == [
            ("r1", "elsewhere", 3, ("default", "mail"), 77),
            ("r2", "there", 3, ("default", "mail"), 77),
        ]
        beat = await pg_store.heartbeat("r1", 30)
        assert (beat.registered, beat.stop_requested, beat.held) == (True, 0, frozenset())
        await pg_store.request_stop(["r1"])
        await asyncio.wait_for(woke.wait(), 5)
        assert wakes == ["control"]
        await pg_store.request_stop(["r1", "r2"], hard=True)
        await pg_store.request_stop(["r2"])  # never lowers a level
        levels = {r.id: r.stop_requested for r in await pg_store.list_runners()}
        assert levels == {"r1": 2, "r2": 2}
        assert (await pg_store.heartbeat("r2", 30)).stop_requested == 2
        await pg_store.unregister_runner("r1")
        assert [r.id for r in await pg_store.list_runners()] == ["r2"]
    finally:
        await subscription.close()


async def test_remote_runner_liveness_follows_its_heartbeat(pg_store: PostgresStore) -> None:
    stale = runner_info("old", host="far")._replace(heartbeat_at=from_epoch(pg_store.now() - 300))
    await pg_store.register_runner(stale)
    await pg_store.register_runner(runner_info("fresh", host="far"))
    assert [r.id for r in await live_runners(pg_store, lease_seconds=30)] == ["fresh"]
    await pg_store.heartbeat("old", 30)
    assert sorted(r.id for r in await live_runners(pg_store, lease_seconds=30)) == [
        "fresh",
        "old",
    ]


async def test_notifications_announce_runnable_work_only(pg_url: str) -> None:
    listener_store = await PostgresStore.open(pg_url)
    store = await PostgresStore.open(pg_url)
    wakes: list[WakeKind] = []
    subscription = await listener_store.subscribe(wakes.append)
    marker: WakeKind = "control"

    async def settled(action: Callable[[], object]) -> list[WakeKind]:
        """The wake-ups an action caused, fenced by a marker notification after it."""
        wakes.clear()
        result = action()
        if asyncio.iscoroutine(result):
            await result
        await store.notify(marker)
        await eventually(lambda: _has(wakes, marker))
        return wakes[:-1]

    try:
        assert await settled(lambda: store.enqueue([new("a"), new("b"), new("c")])) == ["jobs"]
        a, b, c = await store.claim("r", 3, 30)
        done = Finish(a.id, a.token, JobState.COMPLETED)
        assert await settled(lambda: store.finish([done])) == []
        failed = Finish(b.id, b.token, JobState.FAILED, delay=5)
        assert await settled(lambda: store.finish([failed])) == ["jobs"]
        dead = Finish(c.id, c.token, JobState.DEAD)
        assert await settled(lambda: store.finish([dead])) == []
        assert await settled(lambda: store.retry_dead(c.id)) == ["jobs"]
    finally:
        await subscription.close()
        await store.close()
        await listener_store.close()


async def _has(wakes: list[WakeKind], kind: WakeKind) -> bool:
    return kind in wakes


async def test_schemas_keep_queues_apart(pg_url: str) -> None:
    other_url = pg_url.replace("schema=", "schema=x", 1)
    from tests import pgsupport

    pgsupport.created.append(other_url.split("schema=")[1].split("&")[0])
    one = await open_store(pg_url)
    two = await open_store(other_url)
    try:
        await one.enqueue([new("same-id")])
        await two.enqueue([new("same-id")])  # no clash: another queue
        assert (await one.count_jobs())["default"][JobState.PENDING] == 1
        assert [j.id for j in await two.claim("r", 5, 30)] == ["same-id"]
        assert (await one.get("same-id")).state == JobState.PENDING
    finally:
        await one.close()
        await two.close()


async def test_folding_the_tally_deltas_keeps_the_counts(
    pg_store: PostgresStore, admin: Admin, schema: str
) -> None:
    await pg_store.enqueue([new(f"j{i}") for i in range(5)])
    claimed = await pg_store.claim("r", 3, 30.0)
    await pg_store.finish([Finish(j.id, j.token, JobState.COMPLETED) for j in claimed[:2]])
    await pg_store.finish([Finish(claimed[2].id, claimed[2].token, JobState.FAILED)])
    counts, finished = await pg_store.count_jobs(), await pg_store.finished_totals()
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".tally_deltas') > 0
    maintain = asyncio.create_task(pg_store.maintain())
    try:
        await eventually(
            lambda: admin.fetchval(f'SELECT count(*) = 0 FROM "{schema}".tally_deltas'),
            what="the deltas folded",
        )
    finally:
        maintain.cancel()
    assert await pg_store.count_jobs() == counts
    assert (
        await pg_store.finished_totals()
        == finished
        == {
            ("default", "completed"): 2,
            ("default", "failed"): 1,
        }
    )
