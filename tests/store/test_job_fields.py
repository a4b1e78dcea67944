"""The Store contract for a job's directory, environment, retry codes and unique key.

Run against every store (memory, SQLite, PostgreSQL) by the ``store`` fixture.
"""

from __future__ import annotations

import pytest

from queuectl.domain.errors import JobNotFound, UniqueConflict
from queuectl.domain.models import JobState
from queuectl.store import Finish, NewJob, Store

LEASE = 30.0


def keyed(job_id: str, key: str | None = "k", on_conflict: str = "ignore") -> NewJob:
    return NewJob(job_id, "true", 0, unique_key=key, on_conflict=on_conflict)


async def ids(store: Store) -> list[str]:
    return [job.id async for job in store.list_jobs()]


async def finish_as(store: Store, job_id: str, state: JobState) -> None:
    (job,) = await store.claim("r1", 1, LEASE)
    assert job.id == job_id
    assert await store.finish([Finish(job.id, job.token, state)]) == {job_id}


async def test_cwd_env_retry_on_and_key_are_kept_and_given_with_a_claim(store: Store) -> None:
    env = {"A": "1", "EMPTY": "", "ÜNI": "ç = ok"}
    await store.enqueue(
        [NewJob("a", "true", 1, cwd="/srv/a b", env=env, retry_on=(75, 111), unique_key="k1")]
    )
    for job in [await store.get("a"), *[j async for j in store.list_jobs()]]:
        assert (job.cwd, dict(job.env), job.retry_on, job.unique_key) == (
            "/srv/a b",
            env,
            (75, 111),
            "k1",
        )
    (claimed,) = await store.claim("r1", 1, LEASE)
    assert (claimed.cwd, dict(claimed.env), claimed.retry_on) == ("/srv/a b", env, (75, 111))


async def test_unset_fields_read_back_as_unset(store: Store) -> None:
    await store.enqueue([NewJob("a", "true", 1), NewJob("b", "true", 1, retry_on=())])
    a, b = await store.get("a"), await store.get("b")
    assert (a.cwd, dict(a.env), a.retry_on, a.unique_key) == (None, {}, None, None)
    assert b.retry_on == ()  # an empty list is kept: no exit code retries


async def test_a_live_key_leaves_the_second_job_out_and_names_the_holder(store: Store) -> None:
    assert await store.enqueue([keyed("a")]) == {}
    assert await store.enqueue([keyed("b")]) == {"b": "a"}
    assert await ids(store) == ["a"]


async def test_on_conflict_error_refuses_and_stores_nothing(store: Store) -> None:
    await store.enqueue([keyed("a")])
    with pytest.raises(UniqueConflict) as caught:
        await store.enqueue([keyed("fresh", key="other"), keyed("b", on_conflict="error")])
    assert (caught.value.key, caught.value.existing_id, caught.value.job_id) == ("k", "a", "b")
    assert await ids(store) == ["a"]


async def test_one_batch_with_a_key_twice_keeps_the_first(store: Store) -> None:
    skipped = await store.enqueue([keyed("a"), keyed("x", key=None), keyed("b")])
    assert skipped == {"b": "a"}
    assert await ids(store) == ["a", "x"]
    with pytest.raises(UniqueConflict):
        await store.enqueue([keyed("c", key="new"), keyed("d", key="new", on_conflict="error")])
    assert await ids(store) == ["a", "x"]


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.DEAD])
async def test_a_finished_holder_frees_its_key(store: Store, state: JobState) -> None:
    await store.enqueue([keyed("a")])
    await finish_as(store, "a", state)
    assert await store.enqueue([keyed("b")]) == {}
    assert await ids(store) == ["a", "b"]


async def test_processing_and_failed_holders_keep_their_key(store: Store) -> None:
    await store.enqueue([keyed("a")])
    (job,) = await store.claim("r1", 1, LEASE)
    assert await store.enqueue([keyed("b")]) == {"b": "a"}
    await store.finish([Finish(job.id, job.token, JobState.FAILED, delay=60)])
    assert await store.enqueue([keyed("c")]) == {"c": "a"}


async def test_a_cancelled_holder_frees_its_key(store: Store) -> None:
    await store.enqueue([keyed("a")])
    assert (await store.cancel(["a"]))["a"] == "cancelled"
    assert await store.enqueue([keyed("b")]) == {}


async def test_a_job_after_one_left_out_is_refused_with_the_batch(store: Store) -> None:
    await store.enqueue([keyed("a")])
    with pytest.raises(JobNotFound):
        await store.enqueue([keyed("b"), NewJob("w", "true", 0, after=("b",))])
    assert await ids(store) == ["a"]


async def test_chunks_report_what_each_left_out(store: Store) -> None:
    await store.enqueue([keyed("a")])
    heard: list[dict[str, str]] = []
    count = await store.enqueue_chunks(
        [[keyed("b"), keyed("c", key="c")], [keyed("d", key="c"), keyed("e", key=None)]],
        heard.append,
    )
    assert count == 2
    assert heard == [{"b": "a"}, {"d": "c"}]
    assert await ids(store) == ["a", "c", "e"]


async def test_chunks_stop_at_a_conflict_in_error_mode_and_store_nothing(store: Store) -> None:
    with pytest.raises(UniqueConflict):
        await store.enqueue_chunks([[keyed("a")], [keyed("b", on_conflict="error")]])
    assert await ids(store) == []


async def test_retry_dead_refuses_while_another_job_holds_the_key(store: Store) -> None:
    await store.enqueue([keyed("a")])
    await finish_as(store, "a", JobState.DEAD)
    await store.enqueue([keyed("b")])
    with pytest.raises(UniqueConflict) as caught:
        await store.retry_dead("a")
    assert caught.value.existing_id == "b"
    assert "'a' cannot run again" in str(caught.value)
    assert (await store.get("a")).state == JobState.DEAD
    assert (await store.requeue(["a"]))["a"] == "taken"
    assert (await store.get("a")).state == JobState.DEAD


async def test_retry_dead_runs_a_job_whose_key_is_free_again(store: Store) -> None:
    await store.enqueue([keyed("a")])
    await finish_as(store, "a", JobState.DEAD)
    assert (await store.retry_dead("a")).state == JobState.PENDING
    assert await store.enqueue([keyed("b")]) == {"b": "a"}
