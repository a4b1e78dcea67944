"""sleep-bound: 200 x ``sleep 0.05`` at ``--count 4``; floor: the ideal, count / sleep jobs/s.

The goal is judged on the runner's busy span: from its first claim to its last recorded
outcome, both its own timestamps in the store, since no dispatch strategy can win back
interpreter start-up. (Subtracting a separately measured start-up from the whole run
did the same less precisely: on this VM start-up varies by tens of milliseconds.) The
whole-process figure is printed beside it, and so is the reference runner
(``benchmarks/reference.py``) on the same commands: what the machine allows a durable
runner once ``sh -c`` and ``sleep`` themselves are paid for. Last comes no queue at all:
the same commands started and reaped directly (the fastest of ``RAW_METHODS``). Each
start of ``sh`` and then ``sleep`` costs about 2 ms beyond the sleep on this VM, so that
row shows the most any runner could reach here.
"""

from __future__ import annotations

from benchmarks.dispatch import reference_cost, run_worker_cost
from benchmarks.harness import Context, Param, Sizes, fastest_child_run
from benchmarks.reference import DESCRIPTION as REFERENCE
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import busy_span_via_api

__all__ = ["NAME", "PARAMS", "run"]

NAME = "sleep"
PARAMS = {
    "jobs": Param(200, "sleep jobs"),
    "count": Param(4, "worker --count", scaled=False),
    "seconds": Param(0.05, "how long each job sleeps", scaled=False),
}
#: Ways of starting the commands with no queue (``benchmarks.spawn``): threads that each
#: start and wait, and one thread with epoll; the fastest for ``true`` here.
RAW_METHODS = ("uvloop-threads", "sync-posix_spawn-epoll", "sync-vfork-epoll")


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, count, sleep = sizes.integer("jobs"), sizes.integer("count"), sizes.real("seconds")
    ideal = count / sleep
    command = f"sleep {sleep:g}"
    ctx.log(f"sleep: {jobs} x {command} at --count {count}")
    runs = []  # (busy span, whole process) of each run
    for _ in range(max(1, ctx.repeat)):
        home = ctx.home("sleep")
        whole = run_worker_cost(ctx, "sleep", jobs, count, command, home=home).seconds
        runs.append((busy_span_via_api(home, None), whole))
    span, whole = min(runs)
    case = f"{jobs} x {command}, --count {count}"
    report.add(
        Row(
            NAME,
            case + ", first claim to last outcome",
            jobs / span,
            "jobs/s",
            floor=ideal,
            floor_name=f"ideal: {count} slots / {sleep:g} s",
            goal=Goal("ratio>=", 0.93),
        )
    )
    report.add(Row(NAME, case + ", whole process", jobs / whole, "jobs/s", floor=ideal))
    ctx.log(f"sleep: reference runner, {jobs} x {command} at {count}")
    reference = reference_cost(ctx, jobs, count, command)
    if reference is not None:
        report.add(
            Row(
                NAME,
                f"reference runner: {case}, from its first claim",
                jobs / reference.seconds,
                "jobs/s",
                floor=ideal,
                note=f"benchmarks/reference.py ({REFERENCE})",
            )
        )
    ctx.log(f"sleep: no queue, {jobs} x {command} at {count}")
    results = [
        fastest_child_run(ctx, "benchmarks.spawn", method, jobs, count, command)
        for method in RAW_METHODS
    ]
    rates = [float(result["rate"]) for result in results if "skip" not in result]
    if not rates:
        return
    report.add(
        Row(
            NAME,
            f"no queue: {case}, started and reaped directly",
            max(rates),
            "jobs/s",
            floor=ideal,
            note=f"benchmarks/spawn.py, the fastest of {', '.join(RAW_METHODS)}",
        )
    )
