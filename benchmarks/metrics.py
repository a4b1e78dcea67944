"""metrics: a /metrics scrape at 1,000,000 jobs, on SQLite and PostgreSQL.

The figure is the server's time for one scrape: every read from the store (counts,
finished totals, histograms, runners, the oldest runnable job of each queue) and the
rendering of the Prometheus text, in process, the best of several runs after a warm-up.
Floor: the same scrape of an empty store of the same kind, in the same run. Goal
(issue 20): under 200 ms. The store is the one ``status`` measures (5 queues, one job
in 50 pending), with latency observations recorded in every queue.
"""

from __future__ import annotations

import time

from benchmarks.harness import Context, Param, Sizes, run_async
from benchmarks.report import Goal, Report, Row
from benchmarks.status import Store, filled_stores

__all__ = ["NAME", "PARAMS", "run"]

NAME = "metrics"
PARAMS = {
    "jobs": Param(1_000_000, "jobs in the store (5 queues, most of them finished)"),
    "runs": Param(9, "scrapes per store, the best kept", scaled=False),
}
#: The issue's goal for one scrape, in milliseconds.
GOAL_MS = 200.0


def _scrape_ms(store: Store, runs: int) -> float:
    """The best time of one scrape, in milliseconds, after one scrape to warm up."""
    from queuectl.api.metrics import scrape
    from queuectl.api.queue import Queue
    from queuectl.domain.histograms import SUM

    async def go() -> float:
        home, url = store
        async with Queue.open(url, home=home) as queue:
            observed = {("duration", f"q{i}", "0.1"): 10 for i in range(5)}
            observed |= {("wait", f"q{i}", SUM): 10**6 for i in range(5)}
            await queue.store.record_observations(observed)
            best = float("inf")
            for n in range(runs + 1):
                start = time.perf_counter()
                text = await scrape(queue)
                elapsed = time.perf_counter() - start
                assert b"queuectl_jobs_finished_total" in text
                if n:
                    best = min(best, elapsed)
            return best * 1000

    return run_async(go())


def _row(report: Report, store: str, jobs: int, figure: float, floor: float) -> None:
    report.add(
        Row(
            NAME,
            f"{store}: one /metrics scrape at {jobs:,} jobs",
            figure,
            "ms",
            floor=floor,
            floor_name="the same scrape, empty store",
            goal=Goal("<=", GOAL_MS),
        )
    )


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, runs = sizes.integer("jobs"), sizes.integer("runs")
    for kind, empty, full in filled_stores(ctx, jobs, NAME, report):
        floor = _scrape_ms(empty, runs)
        figure = _scrape_ms(full, runs)
        _row(report, kind, jobs, figure, floor)
