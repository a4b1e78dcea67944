"""dashboard: the web dashboard's server time per page and its live update delay, at
1,000,000 jobs, on SQLite and PostgreSQL.

Each page is requested through the ASGI application in this process (httpx's ASGI
transport), so the time is the server's: the store's reads and the rendering, without
a network. The jobs are spread over 5 queues and over the last 30 days (``hours``), most
of them finished, as in a long-lived queue; they are inserted by SQL in one statement,
so the counts the store keeps are built by its own triggers. The chart's outcomes per
minute (tallies the runners write) are added for the last ``minutes.KEEP`` minutes, per
queue and outcome, as many rows as runners would have left. The live figure is the
time from a change committed by another connection to the overview's stream sending
the count that shows it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

from benchmarks.harness import Context, Param, Sizes
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import create_store, insert_rows

__all__ = ["NAME", "PARAMS", "run"]

NAME = "dashboard"
PARAMS = {
    "jobs": Param(1_000_000, "jobs in the store (5 queues, most of them finished)"),
    "hours": Param(720, "the jobs' times spread over this many hours", scaled=False),
    "runs": Param(15, "requests per page, the median kept", scaled=False),
}
#: Server time per page (issue 20), in milliseconds; a live update, in seconds.
PAGE_MS = 100.0
LIVE_S = 1.0

_STATE = "CASE WHEN i % 50 = 0 THEN 'pending' WHEN i % 500 = 1 THEN 'dead' ELSE 'completed' END"
# Job i was created (count - i) steps ago; finished ones finished a second later.
_SQLITE_FILL = f"""
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, command, state, attempts, max_retries, queue, run_at, created_at,
                  updated_at, finished_at, last_error)
SELECT 'j' || i, 'echo job ' || i, {_STATE}, 1, 3, 'q' || (i % 5),
       :now - (:count - i) * :step, :now - (:count - i) * :step,
       :now - (:count - i) * :step + 1,
       CASE WHEN i % 50 = 0 THEN NULL ELSE :now - (:count - i) * :step + 1 END,
       CASE WHEN i % 500 = 1 THEN 'exit code 1' END
FROM n
"""
_PG_FILL = f"""
INSERT INTO queuectl.jobs (id, command, state, attempts, max_retries, queue, run_at,
                           created_at, updated_at, finished_at, last_error)
SELECT 'j' || i, 'echo job ' || i, {_STATE}, 1, 3, 'q' || (i % 5), at, at,
       at + interval '1 second',
       CASE WHEN i % 50 = 0 THEN NULL ELSE at + interval '1 second' END,
       CASE WHEN i % 500 = 1 THEN 'exit code 1' END
FROM (SELECT i, now() - make_interval(secs => ($1 - i) * $2::float8) AS at
      FROM generate_series(1, $1::bigint) AS i) AS n
"""


def _pages(jobs: int) -> list[tuple[str, str]]:
    middle = f"j{max(1, jobs // 2)}"
    return [
        ("overview", "/"),
        ("job list, newest first", "/jobs"),
        ("job list, a deep page (keyset)", f"/jobs?after={middle}"),
        ("job list, dead only", "/jobs?state=dead"),
        ("job list, one queue, oldest first", "/jobs?queue=q3&order=oldest"),
        ("job page", f"/jobs/{middle}"),
        ("job list, text in id or command, few matches (one bounded window)", "/jobs?q=job+1"),
        ("job list, text found nowhere (one bounded window)", "/jobs?q=nowhere"),
        ("dead letter queue", "/dlq"),
        ("queues", "/queues"),
    ]


async def _measure(
    url: str, jobs: int, hours: int, runs: int
) -> tuple[list[tuple[str, float]], float]:
    """Median server time per page (ms), and the live update delay (s).

    The overview's first request is shown as its own row too: the chart reads the kept
    minute tallies on every request, so it should cost what the later ones do.
    """
    import httpx

    from queuectl.api.queue import Queue
    from queuectl.domain import minutes
    from queuectl.store.base import OUTCOMES
    from queuectl.web import create_app

    results = []
    async with Queue.open(url) as queue, Queue.open(url) as writer:
        # On PostgreSQL they stay deltas (no runner folds them): a read adds them up
        # unindexed, the costlier case.
        now = minutes.floor(queue.store.now())
        each = max(1, round(jobs / (hours * 60) / 5))
        await queue.store.record_observations(
            {
                (minutes.MINUTE, f"q{q}", minutes.name(m, outcome)): each
                for q in range(5)
                for m in range(now - 60 * (minutes.KEEP - 1), now + 1, 60)
                for outcome in OUTCOMES
            }
        )
        app = create_app(queue)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for label, path in _pages(jobs):
                times = []
                for n in range(runs + 1):
                    start = time.perf_counter()
                    response = await client.get(path)
                    elapsed = time.perf_counter() - start
                    response.raise_for_status()
                    if n:  # the first warms the caches
                        times.append(elapsed * 1000)
                    elif path == "/":
                        results.append(("overview, first request", elapsed * 1000))
                results.append((label, statistics.median(times)))
        delays = [await _live_delay(app, writer) for _ in range(5)]
    return results, statistics.median(delays)


async def _live_delay(app: object, writer: object) -> float:
    """Seconds from a committed enqueue to the overview stream's count showing it."""
    from queuectl.api.queue import Queue
    from tests.web.sse import read_events  # the same reader the tests use

    assert isinstance(writer, Queue)
    pending = sum(n for s, n in (await writer.counts()).items() if s == "pending")
    expected = f'data-count="pending">{pending + 1}<'
    moment: list[float] = []
    tasks: list[asyncio.Task[object]] = []

    def until(events: list[tuple[str, dict[str, str]]]) -> bool:
        swaps = [d["html"] for name, d in events if name == "swap" and d["id"] == "counts"]
        if swaps and not tasks:

            async def change() -> None:
                await writer.enqueue("true", delay=86400)
                moment.append(time.perf_counter())

            tasks.append(asyncio.get_running_loop().create_task(change()))
        return any(expected in html for html in swaps)

    await read_events(app, "/live/overview", until, within=30)  # type: ignore[arg-type]
    arrived = time.perf_counter()
    await tasks[0]
    return arrived - moment[0]


def _rows(
    report: Report, store: str, jobs: int, pages: list[tuple[str, float]], live: float
) -> None:
    for label, ms in pages:
        case = f"{store}: {label} at {jobs:,} jobs, server time"
        report.add(Row(NAME, case, ms, "ms", goal=Goal("<", PAGE_MS)))
    case = f"{store}: live update after a change at {jobs:,} jobs"
    report.add(Row(NAME, case, live, "s", goal=Goal("<=", LIVE_S)))


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, hours, runs = sizes.integer("jobs"), sizes.integer("hours"), sizes.integer("runs")
    step = hours * 3600 / jobs
    home = ctx.home("dashboard")
    ctx.log(f"dashboard: filling an SQLite store with {jobs:,} jobs")
    path = create_store(home)
    insert_rows(path, _SQLITE_FILL, {"count": jobs, "now": time.time(), "step": step})
    pages, live = asyncio.run(_measure(str(path), jobs, hours, runs))
    _rows(report, "sqlite", jobs, pages, live)
    _postgres(ctx, jobs, step, runs, report, lambda url: _measure(url, jobs, hours, runs))


def _postgres(
    ctx: Context,
    jobs: int,
    step: float,
    runs: int,
    report: Report,
    measure: Callable[[str], object],
) -> None:
    from benchmarks.postgres import database, reachable

    reason = reachable(ctx)
    if reason is not None:
        report.skip(NAME, f"PostgreSQL rows skipped: {reason}")
        return
    with database(ctx) as url:
        ctx.log(f"dashboard: filling a PostgreSQL store with {jobs:,} jobs")
        asyncio.run(_fill_postgres(url, jobs, step))
        pages, live = asyncio.run(_measure(url, jobs, round(jobs * step / 3600), runs))
    _rows(report, "postgres", jobs, pages, live)


async def _fill_postgres(url: str, count: int, step: float) -> None:
    import asyncpg

    from queuectl.store import open_store

    store = await open_store(url)  # creates the schema
    await store.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_PG_FILL, count, step)
        await conn.execute("VACUUM (FREEZE, ANALYZE) queuectl.jobs")
    finally:
        await conn.close()
