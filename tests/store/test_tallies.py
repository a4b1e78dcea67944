"""Kept counts (``count_jobs``, ``finished_totals``), ``requeue`` and ``remove``, on
every store: the counts the triggers keep must equal a count of the jobs themselves
after every kind of change."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from queuectl.store import Finish, NewJob, Store
from tests import pgsupport
from tests.conftest import store_url
from tests.helpers import EPOCH, Clock, utc
from tests.store.test_contract import claim_one, end, new


async def counted(store: Store) -> dict[tuple[str, JobState], int]:
    """What ``count_jobs`` says, without the zeros."""
    return {
        (queue, state): n
        for queue, per_state in (await store.count_jobs()).items()
        for state, n in per_state.items()
        if n
    }


async def actual(store: Store) -> dict[tuple[str, JobState], int]:
    """The jobs themselves, counted one by one."""
    return dict(Counter([(job.queue, job.state) async for job in store.list_jobs()]))


def in_queue(job_id: str, queue: str, *, after: tuple[str, ...] = (), retries: int = 3) -> NewJob:
    return NewJob(id=job_id, command="true", max_retries=retries, queue=queue, after=after)


async def test_counts_follow_every_change_of_state(store: Store) -> None:
    await store.enqueue(
        [
            in_queue("a", "q1"),
            in_queue("b", "q1", after=("a",)),
            in_queue("c", "q1", after=("b",)),
            in_queue("d", "q2"),
            in_queue("e", "q2"),
            in_queue("f", "q2"),
        ]
    )
    assert await counted(store) == await actual(store) == {("q1", JobState.PENDING): 3,
                                                           ("q2", JobState.PENDING): 3}  # fmt: skip
    a, d, e, f = await store.claim("r", 4, 30.0)
    assert await counted(store) == await actual(store)
    # a dies: b and c are cancelled by the dependency triggers, in the same statement
    await store.finish(
        [end(a, JobState.DEAD), end(d, JobState.FAILED, delay=0), end(e, JobState.COMPLETED)]
    )
    await store.cancel([f.id])  # processing: flagged only
    assert await counted(store) == await actual(store)
    assert (await counted(store))[("q1", JobState.CANCELLED)] == 2
    await store.finish([end(f, JobState.CANCELLED)])
    await store.retry_dead("a")
    assert await store.purge(states=frozenset({JobState.COMPLETED})) == 1
    assert await counted(store) == await actual(store)
    await store.remove(["b", "c"])
    assert await counted(store) == await actual(store)
    assert await store.count_jobs() == {
        "q1": {**dict.fromkeys(JobState, 0), JobState.PENDING: 1},
        "q2": {**dict.fromkeys(JobState, 0), JobState.FAILED: 1, JobState.CANCELLED: 1},
    }


async def test_finished_totals_count_outcomes_and_never_go_down(store: Store) -> None:
    assert await store.finished_totals() == {}
    await store.enqueue(
        [in_queue("a", "q1", retries=0), in_queue("w", "q1", after=("a",)), in_queue("b", "q2")]
    )
    a, b = await store.claim("r", 2, 30.0)
    await store.finish([end(a, JobState.DEAD), end(b, JobState.FAILED, delay=0)])
    b = await claim_one(store)
    await store.finish([end(b, JobState.COMPLETED)])
    await store.enqueue([in_queue("c", "q2")])
    await store.cancel(["c"])
    expected = {
        ("q1", "dead"): 1,
        ("q1", "cancelled"): 1,  # w, cancelled because a died
        ("q2", "failed"): 1,
        ("q2", "completed"): 1,
        ("q2", "cancelled"): 1,
    }
    assert await store.finished_totals() == expected
    # a given-back attempt (not counted) is no outcome
    await store.enqueue([in_queue("g", "q2")])
    g = await claim_one(store)
    await store.finish([Finish(g.id, g.token, JobState.PENDING, counted=False)])
    assert await store.finished_totals() == expected
    purged = await store.purge(states=frozenset({JobState.COMPLETED, JobState.CANCELLED}))
    assert purged == 3
    assert (await store.remove(["a"])) == {"a": "removed"}
    assert await store.finished_totals() == expected
    assert await store.count_jobs() == {"q2": {**dict.fromkeys(JobState, 0), JobState.PENDING: 1}}


async def test_requeue_runs_finished_jobs_again(store: Store, clock: Clock) -> None:
    await store.enqueue([new("ok"), new("bad", max_retries=0), new("busy"), new("stop")])
    ok, bad, busy = await store.claim("r", 3, 30.0)
    await store.finish([end(ok, JobState.COMPLETED), end(bad, JobState.DEAD, exit_code=3)])
    await store.cancel(["stop"])
    clock.advance(5)
    results = await store.requeue(["ok", "bad", "stop", busy.id, "nope"])
    assert results == {
        "ok": "requeued",
        "bad": "requeued",
        "stop": "requeued",
        "busy": "unfinished",
        "nope": "missing",
    }
    for job_id in ("ok", "bad", "stop"):
        job = await store.get(job_id)
        assert (job.state, job.attempts, job.run_at) == (JobState.PENDING, 0, utc(EPOCH + 5))
    assert len(await store.attempts("ok")) == 1  # the history stays
    assert (await store.requeue(["ok"])) == {"ok": "unfinished"}  # pending now
    again = await claim_one(store)
    assert (again.id, again.attempts) == ("ok", 1)
    assert [a.number for a in await store.attempts("ok")] == [1, 1]
    assert await counted(store) == await actual(store)


async def test_requeue_keeps_dependencies(store: Store) -> None:
    await store.enqueue([new("a", max_retries=0), NewJob("w", "true", 3, after=("a",))])
    await store.finish([end(await claim_one(store), JobState.DEAD)])
    assert (await store.get("w")).state == JobState.CANCELLED
    # w alone would wait for a dead job for ever: refused
    assert await store.requeue(["w"]) == {"w": "blocked"}
    # a first, then w: w waits for a again
    assert await store.requeue(["a", "w"]) == {"a": "requeued", "w": "requeued"}
    assert (await store.get("w")).blocked == 1
    a = await claim_one(store)
    assert await store.claim("r", 5, 30.0) == []  # w waits
    await store.finish([end(a, JobState.COMPLETED)])
    w = await claim_one(store)
    await store.finish([end(w, JobState.COMPLETED)])
    # running a completed dependency again makes its completed waiter wait again, so
    # that w run again later never overtakes it
    assert await store.requeue(["a"]) == {"a": "requeued"}
    assert (await store.get("w")).blocked == 1
    assert await store.requeue(["w"]) == {"w": "requeued"}
    assert [j.id for j in await store.claim("r", 5, 30.0)] == ["a"]


async def test_remove_deletes_finished_jobs_only(store: Store) -> None:
    await store.enqueue(
        [new("done"), new("run"), new("wait"), NewJob("w", "true", 3, after=("done",))]
    )
    done, _ = await store.claim("r", 2, 30.0)
    await store.finish([end(done, JobState.COMPLETED)])
    results = await store.remove(["done", "run", "wait", "gone"])
    assert results == {
        "done": "removed",
        "run": "unfinished",
        "wait": "unfinished",
        "gone": "missing",
    }
    assert [j.id async for j in store.list_jobs()] == ["run", "wait", "w"]
    assert (await store.get("w")).blocked == 0  # its dependency had completed
    assert await counted(store) == await actual(store)


def test_sqlite_counts_never_read_the_jobs() -> None:
    import sqlite3

    from queuectl.store.sqlite import statements as sql
    from queuectl.store.sqlite.schema import MIGRATIONS

    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        for query in (sql.COUNT, sql.FINISHED_TOTALS):
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query)]
            assert plan, query
            assert not any("jobs" in step for step in plan), plan


@pytest.mark.postgres
async def test_postgres_counts_never_read_the_jobs(tmp_path: Path) -> None:
    import asyncpg

    from queuectl.store import open_store
    from queuectl.store.postgres import statements as sql

    store = await open_store(store_url("postgres", tmp_path))
    await store.close()
    schema = '"' + pgsupport.schema_for(tmp_path) + '"'
    conn = await asyncpg.connect(pgsupport.PG_URL)
    try:
        rows = await conn.fetch("EXPLAIN " + sql.render(sql.TALLIES, schema), "state")
    finally:
        await conn.close()
    plan = "\n".join(row[0] for row in rows)
    assert "tallies" in plan, plan
    assert " on jobs" not in plan, plan
