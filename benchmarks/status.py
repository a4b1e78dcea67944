"""status: `queuectl status` as a whole process at 1,000,000 jobs, on SQLite and PostgreSQL.

Floor: the same command on an empty store of the same kind, in the same run. The goal
(issue 18) is on the difference: at most 50 ms more than the empty store, that is, no
work that grows with the number of jobs. The jobs are spread over 5 queues, most of
them finished, as in a long-lived queue; they are inserted by SQL in one statement,
so the counts the store keeps are built by its own triggers as they would be by runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import Context, Param, Sizes, queuectl_argv, timed_run
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import create_store, insert_rows

__all__ = ["NAME", "PARAMS", "Store", "filled_stores", "run"]

#: A store to time: its home, and its URL (None: the home's SQLite file).
Store = tuple[Path, str | None]

NAME = "status"
PARAMS = {
    "jobs": Param(1_000_000, "jobs in the store (5 queues, most of them finished)"),
    "runs": Param(9, "runs of status per store, the best kept", scaled=False),
}
#: The most ``status`` may add at any size (issue 18), in milliseconds.
EXTRA_MS = 50.0

# One row in 50 pending, one in 500 dead, the rest completed; queues q0..q4 in turn.
_STATE = "CASE WHEN i % 50 = 0 THEN 'pending' WHEN i % 500 = 1 THEN 'dead' ELSE 'completed' END"
_SQLITE_FILL = f"""
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, command, state, attempts, max_retries, queue, run_at, created_at,
                  updated_at, finished_at)
SELECT 'j' || i, 'true', {_STATE}, 1, 3, 'q' || (i % 5), :now, :now, :now, :now FROM n
"""
_PG_FILL = f"""
INSERT INTO jobs (id, command, state, attempts, max_retries, queue, run_at, created_at,
                  updated_at, finished_at)
SELECT 'j' || i, 'true', {_STATE}, 1, 3, 'q' || (i % 5), now(), now(), now(), now()
FROM generate_series(1, $1::bigint) AS i
"""


def _status_ms(ctx: Context, empty: Store, full: Store, runs: int) -> tuple[float, float]:
    """The best wall time of ``queuectl status`` on each store, in milliseconds.

    The two alternate, so that a busy spell of the machine slows both alike; one run
    of each first warms the caches.
    """
    argv = [*queuectl_argv(), "status"]
    envs = [ctx.env(*empty), ctx.env(*full)]
    times: list[list[float]] = [[], []]
    for n in range(runs + 1):
        for env, figures in zip(envs, times, strict=True):
            elapsed = timed_run(argv, env=env)
            if n:
                figures.append(elapsed * 1000)
    return min(times[0]), min(times[1])


async def _fill_postgres(url: str, count: int) -> None:
    import asyncpg

    from queuectl.store import open_store

    store = await open_store(url)  # creates the schema
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_PG_FILL.replace("INTO jobs", "INTO queuectl.jobs"), count)
        await conn.execute("VACUUM (FREEZE, ANALYZE) queuectl.jobs")  # no autovacuum later
    finally:
        await conn.close()


def _row(report: Report, store: str, jobs: int, figure: float, floor: float) -> None:
    case = f"{store}: status at {jobs:,} jobs"
    report.add(Row(NAME, case, figure, "ms", floor=floor, floor_name="status, empty store"))
    report.add(
        Row(
            NAME,
            f"{store}: status, extra time at {jobs:,} jobs over the empty store",
            figure - floor,
            "ms",
            goal=Goal("<=", EXTRA_MS),
        )
    )


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, runs = sizes.integer("jobs"), sizes.integer("runs")
    for kind, empty, full in filled_stores(ctx, jobs, NAME, report):
        floor, figure = _status_ms(ctx, empty, full, runs)
        _row(report, kind, jobs, figure, floor)


def filled_stores(
    ctx: Context, jobs: int, name: str, report: Report
) -> Iterator[tuple[str, Store, Store]]:
    """An empty store and one of ``jobs`` jobs, of each kind: SQLite, then PostgreSQL
    when a server is reachable (its databases dropped once the caller moves on)."""
    from benchmarks.postgres import database, reachable

    empty, full = ctx.home(f"{name}-empty"), ctx.home(f"{name}-full")
    create_store(empty)
    ctx.log(f"{name}: filling an SQLite store with {jobs:,} jobs")
    insert_rows(create_store(full), _SQLITE_FILL, {"count": jobs, "now": time.time()})
    yield "sqlite", (empty, None), (full, None)
    reason = reachable(ctx)
    if reason is not None:
        report.skip(name, f"PostgreSQL rows skipped: {reason}")
        return
    with database(ctx) as empty_url, database(ctx) as full_url:
        asyncio.run(_fill_postgres(empty_url, 0))
        ctx.log(f"{name}: filling a PostgreSQL store with {jobs:,} jobs")
        asyncio.run(_fill_postgres(full_url, jobs))
        yield (
            "postgres",
            (ctx.home(f"{name}-pg-empty"), empty_url),
            (ctx.home(f"{name}-pg-full"), full_url),
        )
