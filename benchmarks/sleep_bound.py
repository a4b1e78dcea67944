"""sleep-bound: 200 x ``sleep 0.05`` at ``--count 4``; floor: the ideal, count / sleep jobs/s.

The goal is judged net of the runner's start-up (a burst run on an empty queue, measured
in the same run), since no dispatch strategy can win back interpreter start-up; the
whole-process figure is printed beside it.
"""

from __future__ import annotations

from benchmarks.dispatch import run_worker
from benchmarks.harness import Context, Param, Sizes, median, queuectl_argv, timed_run
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import create_store

__all__ = ["NAME", "PARAMS", "run", "startup_seconds"]

NAME = "sleep"
PARAMS = {
    "jobs": Param(200, "sleep jobs"),
    "count": Param(4, "worker --count", scaled=False),
    "seconds": Param(0.05, "how long each job sleeps", scaled=False),
}


def startup_seconds(ctx: Context, db: str | None = None, runs: int = 3) -> float:
    """Median wall time of ``worker start --burst`` on an empty queue."""
    cached = ctx.shared.get(f"startup:{db}")
    if cached is not None:
        return float(cached)
    home = ctx.home("startup")
    if db is None:
        create_store(home)
    argv = [*queuectl_argv(), "worker", "start", "--burst"]
    value = median([timed_run(argv, env=ctx.env(home, db)) for _ in range(runs)])
    ctx.shared[f"startup:{db}"] = value
    return value


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, count, sleep = sizes.integer("jobs"), sizes.integer("count"), sizes.real("seconds")
    ideal = count / sleep
    ctx.log(f"sleep: {jobs} x sleep {sleep:g} at --count {count}")
    startup = startup_seconds(ctx)
    whole = min(
        run_worker(ctx, "sleep", jobs, count, f"sleep {sleep:g}") for _ in range(max(1, ctx.repeat))
    )
    case = f"{jobs} x sleep {sleep:g}, --count {count}"
    report.add(
        Row(
            NAME,
            case + ", net of start-up",
            jobs / max(whole - startup, 1e-9),
            "jobs/s",
            floor=ideal,
            floor_name=f"ideal: {count} slots / {sleep:g} s",
            goal=Goal("ratio>=", 0.95),
        )
    )
    report.add(Row(NAME, case + ", whole process", jobs / whole, "jobs/s", floor=ideal))
    report.add(
        Row(
            NAME,
            "start-up: worker start --burst, empty queue",
            startup * 1000,
            "ms",
            note="subtracted from the sleep run above",
        )
    )
