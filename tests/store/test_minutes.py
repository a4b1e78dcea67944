"""The outcomes per minute of the Store contract (the dashboard's chart), on every
store: runners' batches add up per minute and outcome across queues, a read starts at
its minute, and the store's upkeep prunes minutes older than ``KEEP``."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from queuectl.domain import minutes
from queuectl.domain.histograms import SUM
from queuectl.store import Store


def batch(*rows: tuple[str, int, str, int]) -> dict[tuple[str, str, str], int]:
    """(queue, minute, outcome, n) rows as ``record_observations`` takes them."""
    return {(minutes.MINUTE, q, minutes.name(m, o)): n for q, m, o, n in rows}


async def test_batches_add_up_per_minute_and_outcome_across_queues(store: Store) -> None:
    now = minutes.floor(store.now())
    await store.record_observations(
        batch(("default", now - 60, "completed", 3), ("default", now, "failed", 1))
    )
    await store.record_observations(
        {
            **batch(("mail", now, "failed", 2), ("default", now, "dead", 1)),
            ("duration", "default", SUM): 5,  # histograms share the batch
        }
    )
    await store.record_observations(batch(("default", now, "completed", 4)))
    assert await store.outcomes_by_minute(now - 60) == {
        (now - 60, "completed"): 3,
        (now, "failed"): 3,
        (now, "dead"): 1,
        (now, "completed"): 4,
    }
    assert await store.outcomes_by_minute(now) == {
        (now, "failed"): 3,
        (now, "dead"): 1,
        (now, "completed"): 4,
    }
    assert (await store.histograms())["duration", "default"].sum == 5 / 1_000_000


async def test_upkeep_prunes_the_minutes_older_than_kept(store: Store) -> None:
    now = minutes.floor(store.now())
    old = now - 60 * (minutes.KEEP + 1)
    kept = now - 60 * (minutes.KEEP - 1)
    await store.record_observations(
        batch(("default", old, "completed", 1), ("default", kept, "dead", 2))
    )
    await store.record_observations(batch(("default", now, "completed", 1)))
    upkeep = asyncio.create_task(store.maintain())
    try:
        for _ in range(500):  # pruning runs as the upkeep starts
            if (old, "completed") not in await store.outcomes_by_minute(old):
                break
            await asyncio.sleep(0.01)
        assert await store.outcomes_by_minute(old) == {
            (kept, "dead"): 2,
            (now, "completed"): 1,
        }
    finally:
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep


async def test_a_cancelled_upkeep_returns_only_once_all_its_work_has_ended(store: Store) -> None:
    """A runner closes its store after its upkeep: work of the upkeep still running then
    (the SQLite checkpoint connection's close) would finish after the loop is gone."""
    upkeep = asyncio.create_task(store.maintain())
    for _ in range(3):  # let the upkeep start its loops (and open what they need)
        await asyncio.sleep(0.05)
    upkeep.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await upkeep
    me = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not me and not t.done()] == []


def test_sqlite_reads_and_prunes_the_minutes_through_the_tallies_primary_key() -> None:
    from queuectl.store.sqlite import minutes as sqlite_minutes
    from queuectl.store.sqlite.schema import MIGRATIONS

    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        for query in (sqlite_minutes._READ, sqlite_minutes._PRUNE):
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query, ("0",))]
            assert "SEARCH tallies USING PRIMARY KEY (kind=?)" in plan, plan
            assert not any("jobs" in step for step in plan), plan
