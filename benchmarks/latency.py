"""pick-up latency: an idle runner, jobs enqueued one at a time from another process.

Each job's command writes ``date +%s%N`` to a file: latency is that timestamp minus the
moment the enqueuer called ``Queue.enqueue``. Before the jobs arrive, the runner's idle
CPU is read from /proc/<pid>/stat over a quiet interval. Floor (for reference; the goals
are absolute): the same command spawned directly from Python with posix_spawn.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import (
    BenchError,
    Context,
    Param,
    Sizes,
    queuectl_argv,
    run_async,
    run_child,
)
from benchmarks.procfs import cpu_seconds
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import create_store

__all__ = ["NAME", "PARAMS", "Measured", "add_rows", "direct_spawn", "measure", "run"]

NAME = "latency"
PARAMS = {
    "jobs": Param(200, "jobs enqueued one at a time"),
    "idle": Param(10.0, "seconds of idle CPU measurement", minimum=1.0),
    "gap": Param(0.02, "seconds between two enqueues", scaled=False),
    "count": Param(4, "runner --count", scaled=False),
    "schedules": Param(5, "schedules the idle runner keeps (none fire while measured)"),
}

#: Daily and weekly times in zones with DST: a runner with schedules sleeps to their
#: next tick, which is hours away.
_CALENDARS = ("30 2 * * *", "0 4 * * mon", "15 3 1 * *", "45 1 * * *", "0 5 * * 0")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _command(out: Path, name: str) -> str:
    return f"date +%s%N > {out / name}"


async def _wait_registered(home: Path, db: str | None, within: float = 30) -> None:
    from queuectl.api.queue import Queue

    async with Queue.open(db, home=home) as queue:
        deadline = time.monotonic() + within
        while not await queue.runners():
            if time.monotonic() > deadline:
                raise BenchError("the runner did not register within 30 s")
            await asyncio.sleep(0.02)


async def _add_schedules(home: Path, db: str | None, count: int) -> None:
    from queuectl.api.queue import Queue

    async with Queue.open(db, home=home) as queue:
        for n in range(count):
            cron = _CALENDARS[n % len(_CALENDARS)]
            await queue.schedule(f"bench-{n}", cron, "true", timezone="Europe/Berlin")


def _read_stamps(out: Path, sent: dict[str, float], timeout: float = 15) -> list[float]:
    deadline = time.monotonic() + timeout
    latencies: list[float] = []
    for name, t0 in sent.items():
        path = out / name
        while True:
            text = path.read_text().strip() if path.exists() else ""
            if text:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"job {name} never ran")
            time.sleep(0.01)
        latencies.append((int(text) / 1e9 - t0) * 1000)
    return latencies


@dataclass(frozen=True, slots=True)
class Measured:
    #: ms from the enqueue call to the command's start, per job
    latencies: list[float]
    #: ms the enqueue call itself took, per job
    calls: list[float]
    #: the idle runner's CPU, in % of one core
    idle_cpu: float


def measure(ctx: Context, label: str, sizes: Sizes, db: str | None = None) -> Measured:
    """Pick-up latencies and the idle CPU of a runner on a new home (and store ``db``)."""
    home = ctx.home(label)
    out = home / "stamps"
    out.mkdir()
    if db is None:
        create_store(home)
    asyncio.run(_add_schedules(home, db, sizes.integer("schedules")))
    argv = [*queuectl_argv(), "worker", "start", "--count", str(sizes.integer("count"))]
    runner = subprocess.Popen(
        argv, env=ctx.env(home, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        asyncio.run(_wait_registered(home, db))
        time.sleep(0.5)
        idle = sizes.real("idle")
        before = cpu_seconds(runner.pid)
        time.sleep(idle)
        cpu = (cpu_seconds(runner.pid) - before) / idle * 100
        sent = run_child(
            "benchmarks.latency",
            "enqueue",
            home,
            db or "",
            out,
            sizes.integer("jobs"),
            sizes.real("gap"),
        )
        latencies = _read_stamps(out, {k: float(v[0]) for k, v in sent.items()})
        calls = [(float(v[1]) - float(v[0])) * 1000 for v in sent.values()]
    finally:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(30)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
    return Measured(latencies, calls, cpu)


def direct_spawn(ctx: Context, jobs: int, gap: float) -> list[float]:
    """The same commands spawned straight from Python: the least a pick-up can cost."""
    out = ctx.home("latency-floor")
    latencies = []
    for i in range(jobs):
        path = out / f"d{i}"
        t0 = time.time()
        pid = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", _command(out, path.name)], os.environ)
        os.waitpid(pid, 0)
        latencies.append((int(path.read_text()) / 1e9 - t0) * 1000)
        time.sleep(gap / 4)
    return latencies


def add_rows(
    report: Report,
    bench: str,
    case: str,
    measured: Measured,
    floor: list[float],
    p50_goal: float,
    p99_goal: float | None,
) -> None:
    name = "direct posix_spawn of the same command from Python"
    for label, q, goal in (("p50", 0.5, p50_goal), ("p99", 0.99, p99_goal)):
        report.add(
            Row(
                bench,
                f"{case} {label}",
                _percentile(measured.latencies, q),
                "ms",
                floor=_percentile(floor, q),
                floor_name=name,
                goal=None if goal is None else Goal("<=", goal),
            )
        )
    report.add(
        Row(
            bench,
            "of which the enqueue call itself, p50",
            _percentile(measured.calls, 0.5),
            "ms",
            note="Queue.enqueue from the enqueuing process: insert, wake-ups, read back",
        )
    )


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, idle = sizes.integer("jobs"), sizes.real("idle")
    ctx.log(f"latency: idle runner, {idle:g} s idle, then {jobs} jobs one by one")
    measured = measure(ctx, "latency", sizes)
    floor = direct_spawn(ctx, jobs, sizes.real("gap"))
    add_rows(report, NAME, f"{jobs} jobs, enqueue → start", measured, floor, 5.0, 20.0)
    cpu = measured.idle_cpu
    case = f"idle runner CPU over {idle:g} s, {sizes.integer('schedules')} schedules"
    report.add(Row(NAME, case, cpu, "%", goal=Goal("<", 1.0)))


# -- the enqueuing child process ------------------------------------------------
def _child_enqueue(
    home: str, db: str, out: str, jobs: int, gap: float
) -> dict[str, tuple[float, float]]:
    from queuectl.api.queue import Queue

    async def go() -> dict[str, tuple[float, float]]:
        sent: dict[str, tuple[float, float]] = {}
        async with Queue.open(db or None, home=home) as queue:
            for i in range(jobs):
                name = f"lat-{i}"
                command = _command(Path(out), name)
                t0 = time.time()
                await queue.enqueue(command, id=name)
                sent[name] = (t0, time.time())
                await asyncio.sleep(gap)
        return sent

    return run_async(go())


if __name__ == "__main__":
    if sys.argv[1] != "enqueue":
        raise SystemExit(f"unknown mode {sys.argv[1]!r}")
    args = sys.argv[2:]
    print(json.dumps(_child_enqueue(args[0], args[1], args[2], int(args[3]), float(args[4]))))
