"""Claim order, delays, queues and the claim's query plan, on every store."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.models import JobState
from queuectl.domain.spec import JobSpec
from queuectl.store import Store
from queuectl.store.sqlite.statements import claim_sql
from tests import pgsupport
from tests.conftest import store_url


async def _claim_ids(store: Store, n: int, queues: list[str] | None = None) -> list[str]:
    jobs = await store.claim("test-runner", n, 30.0, queues)
    by_start = sorted(jobs, key=lambda j: (-j.priority, j.run_at))
    return [j.id for j in by_start]


async def test_higher_priority_first_and_fifo_within_a_priority(queue: Queue) -> None:
    specs = [
        JobSpec("true", id="low-1", priority=-1),
        JobSpec("true", id="mid-1"),
        JobSpec("true", id="high-1", priority=10),
        JobSpec("true", id="mid-2"),
        JobSpec("true", id="high-2", priority=10),
        JobSpec("true", id="mid-3"),
    ]
    await queue.enqueue_many(specs)
    claimed = []
    for _ in specs:
        claimed += await _claim_ids(queue.store, 1)
    assert claimed == ["high-1", "high-2", "mid-1", "mid-2", "mid-3", "low-1"]


async def test_a_delayed_job_is_pending_and_not_claimed_before_its_time(queue: Queue) -> None:
    later = await queue.enqueue("true", id="later", delay=3600)
    at = await queue.enqueue(
        "true", id="at", run_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
    )
    now = await queue.enqueue("true", id="now")
    assert later.state == at.state == JobState.PENDING
    assert later.run_at > now.run_at + timedelta(minutes=59)
    assert await _claim_ids(queue.store, 10) == ["now"]
    assert await queue.store.next_run_at(states=frozenset({JobState.PENDING})) == pytest.approx(
        later.run_at.timestamp(), abs=1
    )


async def test_claims_take_only_the_runners_queues(queue: Queue) -> None:
    await queue.enqueue_many(
        [
            JobSpec("true", id="mail-1", queue="mail"),
            JobSpec("true", id="video-1", queue="video", priority=5),
            JobSpec("true", id="default-1"),
            JobSpec("true", id="mail-2", queue="mail", priority=1),
            JobSpec("true", id="video-2", queue="video"),
        ]
    )
    assert await _claim_ids(queue.store, 10, ["mail"]) == ["mail-2", "mail-1"]
    assert await _claim_ids(queue.store, 10, ["video", "default"]) == [
        "video-1",
        "default-1",
        "video-2",
    ]
    assert await _claim_ids(queue.store, 10) == []


async def test_list_and_counts_filter_by_queue(queue: Queue) -> None:
    await queue.enqueue_many(
        [JobSpec("true", queue="mail"), JobSpec("true", queue="mail"), JobSpec("true")]
    )
    assert [j.queue async for j in queue.jobs(queue="mail")] == ["mail", "mail"]
    assert (await queue.counts(queue="mail"))[JobState.PENDING] == 2
    assert (await queue.counts())[JobState.PENDING] == 3
    per_queue = await queue.queue_counts()
    assert list(per_queue) == ["default", "mail"]
    assert per_queue["default"][JobState.PENDING] == 1
    assert per_queue["mail"][JobState.CANCELLED] == 0


def _plan_tree(rows: list[tuple[int, int, int, str]]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for node, parent, _, _ in rows:
        children.setdefault(parent, []).append(node)
    return children


def _subtree(rows: list[tuple[int, int, int, str]], top: int) -> list[str]:
    """The steps of an EXPLAIN QUERY PLAN below node ``top``."""
    children, detail = _plan_tree(rows), {row[0]: row[3] for row in rows}
    found, todo = [], list(children.get(top, []))
    while todo:
        node = todo.pop(0)
        found.append(detail[node])
        todo.extend(children.get(node, []))
    return found


@pytest.mark.parametrize("queue_count", [0, 1, 3])
def test_the_claim_reads_an_index_in_order_without_sorting(
    tmp_path: Path, queue_count: int
) -> None:
    """Both paths of the claim: the usual one (no queue has a setting), which reads the
    index in order and sorts nothing; and the one for paused and capped queues, which
    reads jobs through indexes only (its sorts merge at most :limit rows per part)."""
    from queuectl.store.sqlite.schema import MIGRATIONS

    with contextlib.closing(sqlite3.connect(tmp_path / "plan.db")) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO queue_settings VALUES ('queue1', 1, NULL), ('queue2', 0, 2)")
        params = {"runner": "r", "now": 0.0, "lease": 1.0, "limit": 4}
        params.update({f"q{i}": f"queue{i}" for i in range(queue_count)})
        rows = list(conn.execute("EXPLAIN QUERY PLAN " + claim_sql(queue_count), params))
    plan = [row[3] for row in rows]
    top = next(row[0] for row in rows if row[3] == "COMPOUND QUERY")
    usual_top, settings_top = (
        next(row[0] for row in rows if row[1] == top and row[3] == name)
        for name in ("LEFT-MOST SUBQUERY", "UNION ALL")
    )
    usual, with_settings = _subtree(rows, usual_top), _subtree(rows, settings_top)
    index = "jobs_claim_queue" if queue_count else "jobs_claim"
    for part in (usual, with_settings):
        assert any(re.search(rf"USING INDEX {index}\b", step) for step in part), plan
    # Capped queues: a seek per job taken, through jobs_claim_queue.
    assert any(
        "USING INDEX jobs_claim_queue (queue=? AND priority=? AND run_at>?" in step
        for step in with_settings
    ), plan
    # Never a read of the whole table (jobs, or its aliases r and h), on either path.
    assert not [step for step in plan if re.fullmatch(r"SCAN (jobs|r|h)", step)], plan
    if queue_count <= 1:
        assert not any("TEMP B-TREE" in step for step in usual), plan


@pytest.mark.postgres
@pytest.mark.parametrize("queue_count", [0, 1, 3])
async def test_the_postgres_claim_reads_an_index_in_order(tmp_path: Path, queue_count: int) -> None:
    import asyncpg

    from queuectl.store import open_store
    from queuectl.store.base import NewJob
    from queuectl.store.postgres.statements import exchange_sql, render
    from queuectl.store.postgres.store import PostgresStore

    store = await open_store(store_url("postgres", tmp_path))
    assert isinstance(store, PostgresStore)
    try:
        await store.enqueue(
            [NewJob(f"j{i}", "true", 0, queue=f"queue{i % 4}", priority=i % 3) for i in range(60)]
        )
        schema = f'"{store.target.schema}"'
    finally:
        await store.close()
    names = [f"queue{i}" for i in range(queue_count)]
    where: list[object] = [] if not names else [names[0] if queue_count == 1 else names]
    no_finishes: list[list[object]] = [[] for _ in range(9)]
    conn = await asyncpg.connect(pgsupport.PG_URL)
    try:
        async with conn.transaction():
            # The table is tiny; forbid the sequential scan a planner would rightly prefer.
            await conn.execute("SET LOCAL enable_seqscan = off")
            query = "EXPLAIN " + render(exchange_sql(queue_count), schema)
            rows = await conn.fetch(query, None, "r", 1.0, 4, 1, "c", *no_finishes, *where)
    finally:
        await conn.close()
    plan = pgsupport.plan_section([row[0] for row in rows], "picked")
    index = "jobs_claim_queue" if queue_count else "jobs_claim"
    assert re.search(rf"Index Scan using {index}\b", plan), plan
    assert "Seq Scan on jobs" not in plan, plan  # never a table scan
    assert "Bitmap Heap Scan on jobs" not in plan, plan  # nor one that loses the order
    if queue_count <= 1:
        assert "Sort" not in plan, plan
