"""depth: queue overhead again with a long history (1,000,000 finished jobs) in the table.

Floor: the queue-overhead figure on a small table at the same concurrency, from this run
(measured here when the overhead benchmark did not run). The sqlite3 claim/complete
floor at this depth is printed beside it, to tell queuectl's cost from SQLite's.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import Context, Param, Sizes
from benchmarks.overhead import measure_queue, measure_sqlite3, store_with
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import add_history, create_store

__all__ = ["NAME", "PARAMS", "history_template", "run"]

NAME = "depth"
PARAMS = {
    "history": Param(1_000_000, "finished jobs already in the table"),
    "jobs": Param(20_000, "no-op jobs to run"),
    "count": Param(16, "runner concurrency", scaled=False),
}


def history_template(ctx: Context, count: int) -> Path:
    """A closed store holding ``count`` completed jobs, built once per run and copied."""
    key = f"history:{count}"
    cached = ctx.shared.get(key)
    if cached is not None:
        return Path(cached)
    ctx.log(f"building a store with {count:,} finished jobs")
    path = create_store(ctx.home("history-template"))
    add_history(path, count)
    ctx.shared[key] = str(path)
    return path


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    history, jobs, count = sizes.integer("history"), sizes.integer("jobs"), sizes.integer("count")
    small = ctx.shared.get(f"overhead:{jobs}:{count}")
    if small is None:
        ctx.log(f"depth: small-table reference, {jobs} jobs, concurrency {count}")
        path = store_with(ctx, "depth-small", None, jobs)
        small = measure_queue(str(path), path.parent, count)
    template = history_template(ctx, history)
    ctx.log(f"depth: {jobs} jobs over {history:,} finished, concurrency {count}")
    figure = max(
        measure_queue(str(path), path.parent, count)
        for path in (store_with(ctx, "depth", template, jobs) for _ in range(max(1, ctx.repeat)))
    )
    report.add(
        Row(
            NAME,
            f"{jobs} no-op jobs over {history:,} finished, concurrency {count}",
            figure,
            "jobs/s",
            floor=float(small),
            floor_name="queue overhead on a small table (same run)",
            goal=Goal("ratio>=", 0.8),
        )
    )
    ctx.log("depth: sqlite3 claim/complete at this depth")
    raw = measure_sqlite3(store_with(ctx, "depth-floor", template, jobs))
    report.add(Row(NAME, "sqlite3 claim-then-complete at this depth", raw, "jobs/s"))
