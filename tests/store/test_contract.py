"""The Store contract: one suite, run against every store by the ``store`` fixture.

The stores run on a frozen clock (see conftest.py), so times are asserted exactly.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from queuectl.domain.errors import DuplicateJob, InvalidInput, InvalidState, JobNotFound
from queuectl.domain.models import RUNNABLE_STATES, Job, JobState
from queuectl.store import Finish, NewJob, Store, WakeKind, open_store
from tests.helpers import EPOCH, Clock, runner_info, utc

LEASE = 30.0


def new(
    job_id: str,
    command: str = "true",
    *,
    max_retries: int = 3,
    priority: int = 0,
    delay: float = 0.0,
) -> NewJob:
    return NewJob(
        id=job_id, command=command, max_retries=max_retries, priority=priority, delay=delay
    )


async def collect(jobs: AsyncIterator[Job]) -> list[str]:
    return [job.id async for job in jobs]


async def totals(store: Store) -> dict[JobState, int]:
    """Jobs per state over every queue (count_jobs gives them per queue)."""
    summed = dict.fromkeys(JobState, 0)
    for per_state in (await store.count_jobs()).values():
        assert set(per_state) == set(JobState)
        for state, n in per_state.items():
            summed[state] += n
    return summed


async def claim_one(store: Store, runner: str = "r1", lease: float = LEASE) -> Job:
    jobs = await store.claim(runner, 1, lease)
    assert len(jobs) == 1, jobs
    return jobs[0]


def end(job: Job, state: JobState, **fields: object) -> Finish:
    return Finish(job.id, job.token, state, **fields)  # type: ignore[arg-type]


class Wakes:
    """Records the wake-ups a subscriber receives, and lets a test await one."""

    def __init__(self) -> None:
        self.kinds: list[WakeKind] = []
        self._events: dict[WakeKind, asyncio.Event] = {
            "jobs": asyncio.Event(),
            "control": asyncio.Event(),
        }

    def __call__(self, kind: WakeKind) -> None:
        self.kinds.append(kind)
        self._events[kind].set()

    async def wait(self, kind: WakeKind) -> None:
        await asyncio.wait_for(self._events[kind].wait(), 5)

    def clear(self) -> None:
        for event in self._events.values():
            event.clear()


# -- enqueue and get ----------------------------------------------------------------


async def test_enqueue_then_get_returns_a_pending_job(store: Store) -> None:
    await store.enqueue([NewJob("a", "echo hi", 5, timeout=2.5, priority=7, queue="mail")])
    job = await store.get("a")
    assert (job.id, job.command, job.state) == ("a", "echo hi", JobState.PENDING)
    assert (job.attempts, job.max_retries, job.token) == (0, 5, 0)
    assert (job.timeout, job.priority, job.queue) == (2.5, 7, "mail")
    assert job.run_at == job.created_at == job.updated_at == utc(EPOCH)
    assert (job.exit_code, job.last_error, job.runner_id, job.lease_until) == (None,) * 4
    assert (job.started_at, job.finished_at) == (None, None)


async def test_enqueue_with_delay_runs_later(store: Store) -> None:
    await store.enqueue([new("a", delay=90)])
    job = await store.get("a")
    assert job.run_at == utc(EPOCH + 90)
    assert job.created_at == utc(EPOCH)


async def test_enqueue_chunks_stores_every_chunk_and_links_after_across_them(
    store: Store,
) -> None:
    chunks = [[new("a"), new("b")], [], [NewJob("c", "true", 3, after=("a",)), new("d")]]

    assert await store.enqueue_chunks(iter(chunks)) == 4

    assert await collect(store.list_jobs()) == ["a", "b", "c", "d"]
    waiting = await store.get("c")
    assert (waiting.after, waiting.blocked) == (("a",), 1)


async def test_enqueue_chunks_stores_nothing_when_the_input_fails_after_a_chunk(
    store: Store,
) -> None:
    def chunks() -> Iterator[list[NewJob]]:
        yield [new("a"), new("b")]
        raise InvalidInput("line 3: bad")

    with pytest.raises(InvalidInput, match="line 3"):
        await store.enqueue_chunks(chunks())

    assert await collect(store.list_jobs()) == []


@pytest.mark.parametrize(
    ("second", "error", "named"),
    [
        pytest.param([new("c"), new("a")], DuplicateJob, "a", id="an-id-of-an-earlier-chunk"),
        pytest.param(
            [NewJob("c", "true", 3, after=("ghost",))], JobNotFound, "ghost", id="after-missing"
        ),
    ],
)
async def test_enqueue_chunks_refused_in_a_later_chunk_stores_nothing(
    store: Store, second: list[NewJob], error: type[Exception], named: str
) -> None:
    await store.enqueue([new("old")])

    with pytest.raises(error) as caught:
        await store.enqueue_chunks(iter([[new("a"), new("b")], second]))

    assert getattr(caught.value, "job_id", None) == named
    assert await collect(store.list_jobs()) == ["old"]


async def test_get_unknown_id_raises_job_not_found(store: Store) -> None:
    with pytest.raises(JobNotFound, match="nope"):
        await store.get("nope")


async def test_duplicate_id_is_refused_and_the_first_job_is_untouched(
    store: Store, clock: Clock
) -> None:
    await store.enqueue([new("a", "echo first", max_retries=1)])
    first = await store.get("a")
    clock.advance(5)
    with pytest.raises(DuplicateJob) as caught:
        await store.enqueue([new("a", "echo second", max_retries=9)])
    assert caught.value.job_id == "a"
    assert await store.get("a") == first
    assert sum((await totals(store)).values()) == 1


async def test_bulk_enqueue_with_an_existing_id_in_the_middle_stores_none(store: Store) -> None:
    await store.enqueue([new("b")])
    batch = [new("a"), new("b", "echo again"), new("c")]
    with pytest.raises(DuplicateJob) as caught:
        await store.enqueue(batch)
    assert caught.value.job_id == "b"
    assert await collect(store.list_jobs()) == ["b"]
    for missing in ("a", "c"):
        with pytest.raises(JobNotFound):
            await store.get(missing)


async def test_bulk_enqueue_repeating_an_id_stores_none(store: Store) -> None:
    with pytest.raises(DuplicateJob) as caught:
        await store.enqueue([new("y"), new("x"), new("z"), new("x", "echo again")])
    assert caught.value.job_id == "x"
    assert await collect(store.list_jobs()) == []


async def test_bulk_enqueue_stores_every_job_in_order(store: Store) -> None:
    await store.enqueue([new(f"j{i}") for i in range(50)])
    assert await collect(store.list_jobs()) == [f"j{i}" for i in range(50)]


# -- list and count -----------------------------------------------------------------


async def test_list_is_oldest_first(store: Store, clock: Clock) -> None:
    for name in ("c", "a", "b"):
        await store.enqueue([new(name)])
        clock.advance(1)
    assert await collect(store.list_jobs()) == ["c", "a", "b"]


async def test_list_filters_by_state_and_limits(store: Store) -> None:
    await store.enqueue([new(f"j{i}") for i in range(6)])
    claimed = await store.claim("r1", 2, LEASE)
    assert await collect(store.list_jobs(state=JobState.PROCESSING)) == [j.id for j in claimed]
    assert await collect(store.list_jobs(state=JobState.PENDING)) == ["j2", "j3", "j4", "j5"]
    assert await collect(store.list_jobs(state=JobState.PENDING, limit=3)) == ["j2", "j3", "j4"]
    assert await collect(store.list_jobs(state=JobState.DEAD)) == []
    assert await collect(store.list_jobs(limit=1)) == ["j0"]
    assert await collect(store.list_jobs(limit=0)) == []


async def test_list_pages_past_500_rows(store: Store) -> None:
    names = [f"job-{i:05d}" for i in range(1234)]
    await store.enqueue([new(name) for name in names])
    assert await collect(store.list_jobs()) == names
    for limit in (499, 500, 501, 1000, 1234, 5000):
        assert await collect(store.list_jobs(limit=limit)) == names[:limit]
    claimed = {job.id for job in await store.claim("r1", 700, LEASE)}
    processing = await collect(store.list_jobs(state=JobState.PROCESSING))
    pending = await collect(store.list_jobs(state=JobState.PENDING, limit=520))
    assert processing == [n for n in names if n in claimed]
    assert pending == [n for n in names if n not in claimed][:520]


async def test_counts_include_every_state_with_zeros(store: Store) -> None:
    assert await store.count_jobs() == {}
    await store.enqueue([new("c"), new("f"), new("d", max_retries=0), new("r"), new("p")])
    c, f, d, _ = [await claim_one(store) for _ in range(4)]
    await store.finish(
        [end(c, JobState.COMPLETED), end(f, JobState.FAILED, delay=60), end(d, JobState.DEAD)]
    )
    await store.enqueue([new("x")])
    x = await claim_one(store)
    await store.finish([end(x, JobState.CANCELLED)])
    assert await totals(store) == dict.fromkeys(JobState, 1)
    assert list(await store.count_jobs()) == ["default"]


async def test_count_reports_dead_jobs(store: Store) -> None:
    await store.enqueue([new("a", max_retries=0)])
    await store.finish([end(await claim_one(store), JobState.DEAD, exit_code=1)])
    counts = await totals(store)
    assert counts[JobState.DEAD] == 1
    assert set(counts) == set(JobState)


async def test_next_run_at_is_the_earliest_among_the_states_asked(
    store: Store, clock: Clock
) -> None:
    assert await store.next_run_at(states=RUNNABLE_STATES) is None
    await store.enqueue([new("failing"), new("later", delay=100)])
    failing = await claim_one(store)
    await store.finish([end(failing, JobState.FAILED, delay=8)])
    assert await store.next_run_at(states=frozenset({JobState.FAILED})) == EPOCH + 8
    assert await store.next_run_at(states=frozenset({JobState.PENDING})) == EPOCH + 100
    assert await store.next_run_at(states=RUNNABLE_STATES) == EPOCH + 8
    assert await store.next_run_at(states=frozenset({JobState.DEAD})) is None


# -- claim --------------------------------------------------------------------------


async def test_claim_takes_highest_priority_then_oldest(store: Store, clock: Clock) -> None:
    await store.enqueue([new("low-old", priority=0)])
    clock.advance(1)
    await store.enqueue([new("high", priority=5), new("low-new", priority=0)])
    clock.advance(1)
    await store.enqueue([new("urgent", priority=9), new("negative", priority=-1)])
    order = [(await claim_one(store)).id for _ in range(5)]
    assert order == ["urgent", "high", "low-old", "low-new", "negative"]
    assert await store.claim("r1", 1, LEASE) == []


async def test_claim_with_a_limit_takes_the_best_jobs(store: Store) -> None:
    await store.enqueue([new("a"), new("b", priority=1), new("c"), new("d", priority=2)])
    claimed = await store.claim("r1", 3, LEASE)
    assert {j.id for j in claimed} == {"d", "b", "a"}
    rest = await store.claim("r1", 10, LEASE)
    assert [j.id for j in rest] == ["c"]


async def test_claim_respects_run_at(store: Store, clock: Clock) -> None:
    await store.enqueue([new("later", delay=60, priority=9), new("now")])
    assert [j.id for j in await store.claim("r1", 10, LEASE)] == ["now"]
    clock.advance(59.9)
    assert await store.claim("r1", 10, LEASE) == []
    clock.advance(0.1)
    assert [j.id for j in await store.claim("r1", 10, LEASE)] == ["later"]


async def test_failed_jobs_are_claimable_once_their_backoff_passed(
    store: Store, clock: Clock
) -> None:
    await store.enqueue([new("a")])
    await store.finish([end(await claim_one(store), JobState.FAILED, delay=4, exit_code=1)])
    assert await store.claim("r1", 1, LEASE) == []
    clock.advance(4)
    job = await claim_one(store)
    assert (job.id, job.attempts, job.token) == ("a", 2, 2)


async def test_claim_does_not_take_finished_or_processing_jobs(store: Store) -> None:
    await store.enqueue([new("done"), new("dead", max_retries=0), new("busy")])
    await store.finish([end(await claim_one(store), JobState.COMPLETED)])
    await store.finish([end(await claim_one(store), JobState.DEAD)])
    await claim_one(store)
    assert await store.claim("r2", 10, LEASE) == []


async def test_claim_marks_the_job_processing_with_owner_token_and_lease(
    store: Store, clock: Clock
) -> None:
    await store.enqueue([new("a")])
    clock.advance(3)
    job = await claim_one(store, "runner-1", lease=12)
    assert job.state == JobState.PROCESSING
    assert (job.attempts, job.token, job.runner_id) == (1, 1, "runner-1")
    assert job.lease_until == utc(EPOCH + 3 + 12)
    assert job.started_at == job.updated_at == utc(EPOCH + 3)
    assert await store.get("a") == job

    await store.finish([end(job, JobState.PENDING)])
    again = await claim_one(store, "runner-2")
    assert (again.attempts, again.token, again.runner_id) == (2, 2, "runner-2")


async def test_concurrent_claims_never_return_a_job_twice(store: Store) -> None:
    total = 300
    await store.enqueue([new(f"j{i}") for i in range(total)])
    rng = random.Random(7)

    async def claimer(name: str) -> list[str]:
        taken: list[str] = []
        while batch := await store.claim(name, rng.randint(1, 4), LEASE):
            taken += [job.id for job in batch]
        return taken

    results = await asyncio.gather(*(claimer(f"r{i}") for i in range(25)))
    claimed = [job_id for taken in results for job_id in taken]
    assert len(claimed) == total
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert (await totals(store))[JobState.PROCESSING] == total


# -- finish -------------------------------------------------------------------------


async def test_finish_records_the_outcome_and_releases_the_claim(
    store: Store, clock: Clock
) -> None:
    await store.enqueue([new("a")])
    job = await claim_one(store)
    clock.advance(5)
    applied = await store.finish(
        [end(job, JobState.FAILED, delay=4, exit_code=3, last_error="exit code 3\nboom")]
    )
    assert applied == {"a"}
    after = await store.get("a")
    assert after.state == JobState.FAILED
    assert (after.attempts, after.exit_code, after.last_error) == (1, 3, "exit code 3\nboom")
    assert after.run_at == utc(EPOCH + 5 + 4)
    assert after.finished_at == after.updated_at == utc(EPOCH + 5)
    assert (after.runner_id, after.lease_until) == (None, None)
    assert after.token == job.token


async def test_finish_completed_keeps_exit_code_and_clears_the_error(store: Store) -> None:
    await store.enqueue([new("a")])
    await store.finish([end(await claim_one(store), JobState.FAILED, exit_code=1, last_error="x")])
    await store.finish([end(await claim_one(store), JobState.COMPLETED, exit_code=0)])
    job = await store.get("a")
    assert (job.state, job.attempts, job.exit_code, job.last_error) == (
        JobState.COMPLETED,
        2,
        0,
        None,
    )


async def test_finish_with_a_stale_token_is_dropped(store: Store) -> None:
    await store.enqueue([new("a")])
    first = await claim_one(store, "r1")
    await store.finish([end(first, JobState.PENDING, last_error="lease expired")])
    second = await claim_one(store, "r2")
    assert second.token == first.token + 1

    assert await store.finish([end(first, JobState.COMPLETED, exit_code=0)]) == set()
    assert await store.get("a") == second  # the late finisher changed nothing

    assert await store.finish([end(second, JobState.COMPLETED, exit_code=0)]) == {"a"}
    assert (await store.get("a")).state == JobState.COMPLETED


async def test_finish_twice_applies_once(store: Store) -> None:
    await store.enqueue([new("a")])
    job = await claim_one(store)
    assert await store.finish([end(job, JobState.COMPLETED)]) == {"a"}
    done = await store.get("a")
    assert await store.finish([end(job, JobState.FAILED, delay=9, last_error="late")]) == set()
    assert await store.get("a") == done


async def test_finish_batch_returns_only_the_applied_ids(store: Store) -> None:
    await store.enqueue([new("a"), new("b"), new("c")])
    a, b, c = [await claim_one(store) for _ in range(3)]
    await store.finish([end(b, JobState.PENDING)])
    b_again = await claim_one(store)
    applied = await store.finish(
        [
            end(a, JobState.COMPLETED),
            end(b, JobState.COMPLETED),  # stale: "b" was claimed again since
            Finish("no-such-job", 1, JobState.COMPLETED),
            end(c, JobState.FAILED, delay=1, exit_code=2),
        ]
    )
    assert applied == {"a", "c"}
    assert await store.get("b") == b_again
    assert (await store.get("c")).state == JobState.FAILED


async def test_finish_uncounted_gives_the_attempt_back(store: Store) -> None:
    await store.enqueue([new("a")])
    job = await claim_one(store)
    assert job.attempts == 1
    await store.finish([end(job, JobState.PENDING, counted=False, last_error="hard stop")])
    after = await store.get("a")
    assert (after.state, after.attempts, after.last_error) == (
        JobState.PENDING,
        0,
        "hard stop",
    )
    assert (await claim_one(store)).attempts == 1


async def test_finish_of_an_unclaimed_job_is_dropped(store: Store) -> None:
    await store.enqueue([new("a")])
    before = await store.get("a")
    assert await store.finish([Finish("a", 0, JobState.COMPLETED)]) == set()
    assert await store.get("a") == before


# -- dead letter queue --------------------------------------------------------------


async def test_retry_dead_resets_attempts_and_makes_it_pending_now(
    store: Store, clock: Clock
) -> None:
    await store.enqueue([new("a", max_retries=0)])
    await store.finish([end(await claim_one(store), JobState.DEAD, exit_code=1, last_error="x")])
    clock.advance(10)
    job = await store.retry_dead("a")
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    assert job.run_at == job.updated_at == utc(EPOCH + 10)
    assert await store.get("a") == job
    claimed = await claim_one(store)
    assert (claimed.id, claimed.attempts) == ("a", 1)


async def test_retry_dead_of_an_unknown_job_raises_job_not_found(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.retry_dead("ghost")


@pytest.mark.parametrize("state", [JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED])
async def test_retry_dead_of_a_live_job_raises_invalid_state(store: Store, state: JobState) -> None:
    await store.enqueue([new("a")])
    if state != JobState.PENDING:
        job = await claim_one(store)
        if state == JobState.COMPLETED:
            await store.finish([end(job, state)])
    before = await store.get("a")
    with pytest.raises(InvalidState, match=state.value):
        await store.retry_dead("a")
    assert await store.get("a") == before


# -- leases -------------------------------------------------------------------------


async def test_expired_claims_and_claims_of(store: Store, clock: Clock) -> None:
    await store.enqueue([new("a"), new("b"), new("c")])
    a = await claim_one(store, "r1", lease=10)
    b = await claim_one(store, "r2", lease=20)
    c = await claim_one(store, "r1", lease=20)
    await store.finish([end(c, JobState.COMPLETED)])

    assert await store.expired_claims() == []
    clock.advance(15)
    assert await store.expired_claims() == [await store.get("a")]
    assert [j.id for j in await store.claims_of("r1")] == ["a"]
    assert [j.id for j in await store.claims_of("r2")] == ["b"]
    assert await store.claims_of("r3") == []
    clock.advance(10)
    assert sorted(j.id for j in await store.expired_claims()) == ["a", "b"]
    assert a.id != b.id


# -- runner registry ----------------------------------------------------------------


async def test_register_list_and_unregister_runners(store: Store) -> None:
    assert await store.list_runners() == []
    second = runner_info("r2", EPOCH + 1, pid=222)
    first = runner_info("r1", EPOCH, pid=111, concurrency=4)
    await store.register_runner(second)
    await store.register_runner(first)
    assert await store.list_runners() == [first, second]  # oldest first
    await store.unregister_runner("r1")
    await store.unregister_runner("never-registered")
    assert await store.list_runners() == [second]


async def test_registering_again_replaces_the_entry(store: Store) -> None:
    await store.register_runner(runner_info("r1", EPOCH, concurrency=1))
    await store.register_runner(runner_info("r1", EPOCH, concurrency=8))
    (entry,) = await store.list_runners()
    assert entry.concurrency == 8


async def test_heartbeat_renews_leases_and_reports_held_jobs(store: Store, clock: Clock) -> None:
    await store.register_runner(runner_info("r1", EPOCH))
    await store.enqueue([new("a"), new("b"), new("c"), new("d")])
    await claim_one(store, "r1", lease=10)
    await claim_one(store, "r1", lease=10)
    other = await claim_one(store, "r2", lease=10)
    done = await claim_one(store, "r1", lease=10)
    await store.finish([end(done, JobState.COMPLETED)])

    clock.advance(8)
    beat = await store.heartbeat("r1", 10)
    assert beat.held == frozenset({"a", "b"})
    assert (beat.stop_requested, beat.registered) == (0, True)
    assert (await store.get("a")).lease_until == utc(EPOCH + 18)
    assert (await store.get(other.id)).lease_until == utc(EPOCH + 10)
    (entry,) = await store.list_runners()
    assert entry.heartbeat_at == utc(EPOCH + 8)

    clock.advance(5)
    assert [j.id for j in await store.expired_claims()] == [other.id]


async def test_heartbeat_no_longer_reports_a_job_taken_over(store: Store, clock: Clock) -> None:
    await store.register_runner(runner_info("r1", EPOCH))
    await store.enqueue([new("a")])
    mine = await claim_one(store, "r1", lease=5)
    clock.advance(6)
    (expired,) = await store.expired_claims()
    await store.finish([end(expired, JobState.PENDING, last_error="lease expired")])
    await claim_one(store, "r2")
    assert mine.token != (await store.get("a")).token
    assert (await store.heartbeat("r1", 5)).held == frozenset()


async def test_heartbeat_of_an_unregistered_runner_says_so(store: Store) -> None:
    beat = await store.heartbeat("ghost", LEASE)
    assert (beat.held, beat.stop_requested, beat.registered) == (frozenset(), 0, False)


async def test_stop_requests_only_escalate(store: Store) -> None:
    await store.register_runner(runner_info("r1", EPOCH))
    await store.register_runner(runner_info("r2", EPOCH))
    assert (await store.heartbeat("r1", LEASE)).stop_requested == 0
    await store.request_stop(["r1", "not-registered"])
    assert (await store.heartbeat("r1", LEASE)).stop_requested == 1
    assert (await store.heartbeat("r2", LEASE)).stop_requested == 0
    await store.request_stop(["r1"], hard=True)
    assert (await store.heartbeat("r1", LEASE)).stop_requested == 2
    await store.request_stop(["r1"])
    assert (await store.heartbeat("r1", LEASE)).stop_requested == 2
    levels = {r.id: r.stop_requested for r in await store.list_runners()}
    assert levels == {"r1": 2, "r2": 0}


# -- wake-ups -----------------------------------------------------------------------


async def test_notify_wakes_a_subscribed_runner(store: Store) -> None:
    wakes = Wakes()
    subscription = await store.subscribe(wakes)
    try:
        await store.register_runner(runner_info("r1", EPOCH, wake=subscription.address))
        await store.notify("jobs")
        await wakes.wait("jobs")
        await store.notify("control")
        await wakes.wait("control")
    finally:
        await subscription.close()


async def test_enqueue_and_stop_requests_wake_subscribers(store: Store) -> None:
    wakes = Wakes()
    subscription = await store.subscribe(wakes)
    try:
        await store.register_runner(runner_info("r1", EPOCH, wake=subscription.address))
        await store.enqueue([new("a")])
        await wakes.wait("jobs")
        await store.request_stop(["r1"])
        await wakes.wait("control")
    finally:
        await subscription.close()


async def test_retry_dead_wakes_subscribers(store: Store) -> None:
    await store.enqueue([new("a", max_retries=0)])
    await store.finish([end(await claim_one(store), JobState.DEAD)])
    wakes = Wakes()
    subscription = await store.subscribe(wakes)
    try:
        await store.register_runner(runner_info("r1", EPOCH, wake=subscription.address))
        await store.retry_dead("a")
        await wakes.wait("jobs")
    finally:
        await subscription.close()


# -- SQLite: several connections on one file ------------------------------------------


@pytest.fixture
async def two_sqlite_stores(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two independent stores (connections, threads) on one SQLite file."""
    path = str(tmp_path / "shared.db")
    first = await open_store(path)
    try:
        second = await open_store(path)
        try:
            yield first, second
        finally:
            await second.close()
    finally:
        await first.close()


async def test_two_sqlite_connections_never_claim_the_same_job(
    two_sqlite_stores: tuple[Store, Store],
) -> None:
    first, second = two_sqlite_stores
    total = 400
    await first.enqueue([new(f"j{i}") for i in range(total)])
    rng = random.Random(11)

    claimers = 12
    started = 0
    everyone_claimed = asyncio.Event()

    async def claimer(store: Store, name: str) -> list[tuple[str, int]]:
        nonlocal started
        taken: list[tuple[str, int]] = []
        while batch := await store.claim(name, rng.randint(1, 5), LEASE):
            taken += [(job.id, job.token) for job in batch]
            if len(taken) == len(batch):  # its first claim: wait for every claimer's
                started += 1
                if started == claimers:
                    everyone_claimed.set()
                await everyone_claimed.wait()
        return taken

    results = await asyncio.gather(
        *(
            claimer(store, f"{side}-{i}")
            for i in range(claimers // 2)
            for side, store in enumerate((first, second))
        )
    )
    claimed = [job_id for taken in results for job_id, _ in taken]
    assert len(claimed) == total
    assert len(set(claimed)) == total
    assert all(token == 1 for taken in results for _, token in taken)
    # Both connections took part, so the exclusivity was tested across them.
    by_store = [sum(len(r) for r in results[side::2]) for side in (0, 1)]
    assert all(n > 0 for n in by_store), by_store


async def test_enqueue_on_one_sqlite_connection_wakes_a_runner_on_another(
    two_sqlite_stores: tuple[Store, Store],
) -> None:
    listener, enqueuer = two_sqlite_stores
    wakes = Wakes()
    subscription = await listener.subscribe(wakes)
    try:
        await listener.register_runner(runner_info("r1", EPOCH, wake=subscription.address))
        await enqueuer.enqueue([new("a")])
        await wakes.wait("jobs")
        await enqueuer.request_stop(["r1"], hard=True)
        await wakes.wait("control")
        assert (await listener.heartbeat("r1", LEASE)).stop_requested == 2
    finally:
        await subscription.close()


async def test_duplicate_across_sqlite_connections_leaves_the_first(
    two_sqlite_stores: tuple[Store, Store],
) -> None:
    first, second = two_sqlite_stores
    await first.enqueue([new("a", "echo first")])
    with pytest.raises(DuplicateJob):
        await second.enqueue([new("b"), new("a", "echo second")])
    assert (await first.get("a")).command == "echo first"
    with pytest.raises(JobNotFound):
        await first.get("b")
