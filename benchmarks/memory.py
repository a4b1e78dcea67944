"""memory: a runner's peak RSS at ``--count 64`` over a big store, and its growth.

The store holds 1,000,000 finished jobs plus the run's pending ``true`` jobs. While
``worker start --burst`` drains them, VmRSS and VmHWM are sampled from /proc/<pid>/status;
the peak is the highest VmHWM seen (cross-checked with wait4's ru_maxrss), the growth is
VmRSS at the end minus VmRSS at 10 % of the run, scaled to 100,000 jobs. No floor: the
goals are absolute.
"""

from __future__ import annotations

import os
import subprocess

from benchmarks.depth import history_template
from benchmarks.harness import BenchError, Context, Param, Sizes, queuectl_argv
from benchmarks.procfs import MemorySampler
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import add_pending, copy_store, state_counts

__all__ = ["NAME", "PARAMS", "run"]

NAME = "memory"
PARAMS = {
    "history": Param(1_000_000, "finished jobs in the store"),
    "jobs": Param(100_000, "true jobs the runner drains"),
    "count": Param(64, "worker --count", scaled=False),
}
#: Growth over a shorter run is mostly warm-up, and scaling it to 100,000 jobs misleads.
_MIN_GROWTH_JOBS = 10_000


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    history, jobs, count = sizes.integer("history"), sizes.integer("jobs"), sizes.integer("count")
    template = history_template(ctx, history)
    home = ctx.home("memory")
    path = copy_store(template, home)
    add_pending(path, jobs)
    ctx.log(f"memory: {jobs:,} jobs at --count {count} over {history:,} finished")
    argv = [*queuectl_argv(), "worker", "start", "--count", str(count), "--burst"]
    proc = subprocess.Popen(
        argv, env=ctx.env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    sampler = MemorySampler(proc.pid).start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    if proc.returncode != 0:
        raise BenchError(f"memory: the runner exited {proc.returncode}")
    done = state_counts(path).get("completed", 0)
    if done != jobs + history:
        raise BenchError(f"memory: {done - history} of {jobs} jobs completed")
    peak_mb = max(sampler.peak_kb, usage.ru_maxrss) / 1024
    growth_mb = (sampler.samples[-1][1] - sampler.rss_at(0.1)) / 1024 if sampler.samples else 0.0
    report.add(
        Row(
            NAME,
            f"runner peak RSS, --count {count}, {history + jobs:,} jobs in the store",
            peak_mb,
            "MB",
            goal=Goal("<=", 80),
            note=f"VmHWM sampled {sampler.peak_kb / 1024:.1f} MB, "
            f"wait4 ru_maxrss {usage.ru_maxrss / 1024:.1f} MB",
        )
    )
    judged = jobs >= _MIN_GROWTH_JOBS
    report.add(
        Row(
            NAME,
            f"RSS growth per 100,000 jobs (over a {jobs:,}-job run)",
            growth_mb * 100_000 / jobs,
            "MB",
            goal=Goal("<=", 5) if judged else None,
            note="" if judged else f"not judged: runs under {_MIN_GROWTH_JOBS:,} jobs are warm-up",
        )
    )
