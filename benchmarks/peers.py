"""peers: huey (SQLite storage, thread workers) and task-spooler on the same work.

Each peer gets the dispatch work (``true`` jobs) and the sleep-bound work (``sleep 0.05``)
at the same concurrency, queued before its workers start, and is timed from starting its
workers until every job is done, like queuectl's whole-process figures. Each is skipped
when it is not installed. Floors are the same as queuectl's rows, so ratios compare.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.dispatch import run_worker, spawn_floor
from benchmarks.harness import BenchError, Context, Param, Sizes, median, timed_run
from benchmarks.report import Goal, Report, Row

__all__ = ["NAME", "PARAMS", "run"]

NAME = "peers"
PARAMS = {
    "jobs": Param(2000, "true jobs (dispatch work)"),
    "count": Param(4, "workers / slots", scaled=False),
    "sleep_jobs": Param(200, "sleep 0.05 jobs (sleep-bound work)"),
    "floor_jobs": Param(
        2000, "spawns for the floor, when dispatch did not measure it", minimum=200
    ),
}
_SLEEP = 0.05
#: queuectl's dispatch rate at least this many times each peer's, at 4 workers.
GOALS = {"huey": Goal("ratio>=", 1.5), "task-spooler": Goal("ratio>=", 1.2)}

_HUEY_TASKS = """
import subprocess
from huey import SqliteHuey

huey = SqliteHuey(filename={db!r})


@huey.task()
def run(command):
    subprocess.run(command, shell=True, check=False)
    return True
"""


# -- huey ---------------------------------------------------------------------
def _huey_dir(ctx: Context, label: str) -> Path:
    home = ctx.home(label)
    (home / "bench_tasks.py").write_text(_HUEY_TASKS.format(db=str(home / "huey.db")))
    return home


def _huey_env(home: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(home)}


def _huey_results(db: Path) -> int:
    try:
        conn = sqlite3.connect(db, timeout=30)
        try:
            return int(conn.execute("SELECT count(*) FROM kv").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def huey_drain(ctx: Context, label: str, jobs: int, count: int, command: str) -> float:
    home = _huey_dir(ctx, label)
    env = _huey_env(home)
    enqueue = f"import bench_tasks\nfor _ in range({jobs}): bench_tasks.run({command!r})"
    subprocess.run([sys.executable, "-c", enqueue], env=env, cwd=home, check=True)
    consumer = Path(sys.executable).parent / "huey_consumer"
    argv = [str(consumer), "bench_tasks.huey", "-w", str(count), "-k", "thread", "-q"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while _huey_results(home / "huey.db") < jobs:
            if proc.poll() is not None:
                raise BenchError(f"huey_consumer exited {proc.returncode}")
            if time.perf_counter() - start > 600:
                raise BenchError("huey did not finish within 600 s")
            time.sleep(0.005)
        return time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def huey_enqueue_one(ctx: Context, runs: int) -> float:
    home = _huey_dir(ctx, "huey-one")
    env = _huey_env(home)
    argv = [sys.executable, "-c", "import bench_tasks; bench_tasks.run('true')"]
    return median([timed_run(argv, env=env) for _ in range(runs)])


# -- task-spooler -----------------------------------------------------------------
def _tsp() -> str | None:
    for name in ("tsp", "ts"):
        path = shutil.which(name)
        if path and _is_task_spooler(path):
            return path
    return None


def _is_task_spooler(path: str) -> bool:
    # moreutils ships an unrelated `ts` (timestamps); task-spooler's answers -h with "usage".
    result = subprocess.run([path, "-h"], capture_output=True, text=True, check=False)
    return "TS_SOCKET" in result.stdout + result.stderr


#: task-spooler's server watches its clients with select(): about 1,000 queued jobs at most.
TSP_MAX_JOBS = 900


def tsp_drain(ctx: Context, tsp: str, label: str, jobs: int, count: int, command: str) -> float:
    """Queue behind a gate job with one slot, then open the gate and raise the slots."""
    home = ctx.home(label)
    env = {
        **os.environ,
        "TS_SOCKET": str(home / "tsp.socket"),
        "TMPDIR": str(home),
        "TS_MAXFINISHED": str(jobs + 16),
    }
    gate = home / "gate"
    os.mkfifo(gate)

    def tsp_do(*args: str) -> str:
        result = subprocess.run(
            [tsp, *args], env=env, capture_output=True, text=True, check=True, timeout=60
        )
        return result.stdout.strip()

    try:
        tsp_do("-S", "1")
        tsp_do("-n", "sh", "-c", f"read line < {gate}")
        last = ""
        for _ in range(jobs):
            last = tsp_do("-n", "sh", "-c", command)
        start = time.perf_counter()
        with open(gate, "w") as fifo:
            fifo.write("go\n")
        tsp_do("-S", str(count))
        subprocess.run([tsp, "-w", last], env=env, capture_output=True, check=False, timeout=600)
        while tsp_do("-l").count("finished") < jobs + 1:
            if time.perf_counter() - start > 600:
                raise BenchError("task-spooler did not finish within 600 s")
            time.sleep(0.005)
        return time.perf_counter() - start
    finally:
        _release(gate)
        subprocess.run([tsp, "-K"], env=env, capture_output=True, check=False, timeout=60)


def _release(fifo: Path) -> None:
    """Let a gate job still blocked on ``fifo`` go (opening for writing would block)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # nobody is reading: the gate is open already
    os.write(fd, b"go\n")
    os.close(fd)


def tsp_enqueue_one(ctx: Context, tsp: str, runs: int) -> float:
    home = ctx.home("tsp-one")
    env = {**os.environ, "TS_SOCKET": str(home / "tsp.socket"), "TMPDIR": str(home)}
    try:
        subprocess.run([tsp, "-S", "1"], env=env, capture_output=True, check=True)
        subprocess.run([tsp, "-n", "sleep", "60"], env=env, capture_output=True, check=True)
        return median([timed_run([tsp, "-n", "true"], env=env) for _ in range(runs)])
    finally:
        subprocess.run([tsp, "-K"], env=env, capture_output=True, check=False)


# -- rows -------------------------------------------------------------------------
def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, count, sleep_jobs = (
        sizes.integer("jobs"),
        sizes.integer("count"),
        sizes.integer("sleep_jobs"),
    )
    best, floor, _ = spawn_floor(ctx, sizes.integer("floor_jobs"), count)
    ideal = count / _SLEEP
    work = [
        ("dispatch", jobs, "true", floor, f"spawn floor at c={count}: {best}"),
        ("sleep", sleep_jobs, f"sleep {_SLEEP:g}", ideal, f"ideal {count} / {_SLEEP:g} s"),
    ]
    ours = _queuectl_rate(ctx, jobs, count)
    if importlib.util.find_spec("huey") is None:
        report.skip(NAME, "huey is not installed (pip install huey)")
    else:
        for kind, n, command, ref, ref_name in work:
            ctx.log(f"peers: huey {kind}, {n} jobs, {count} thread workers")
            seconds = min(
                huey_drain(ctx, f"huey-{kind}", n, count, command)
                for _ in range(max(1, ctx.repeat))
            )
            case = f"huey (SqliteHuey, -w {count} -k thread): {n} x {command}"
            report.add(Row(NAME, case, n / seconds, "jobs/s", floor=ref, floor_name=ref_name))
            if kind == "dispatch":
                report.add(_beside(ours, n / seconds, "huey", count))
        report.add(
            Row(
                NAME,
                "huey: enqueue one from a fresh process",
                huey_enqueue_one(ctx, 9) * 1000,
                "ms",
            )
        )
    tsp = _tsp()
    if tsp is None:
        report.skip(NAME, "task-spooler is not installed (apt-get install task-spooler)")
        return
    for kind, n, command, ref, ref_name in work:
        n = min(n, TSP_MAX_JOBS)
        ctx.log(f"peers: task-spooler {kind}, {n} jobs, {count} slots")
        seconds = min(
            tsp_drain(ctx, tsp, f"tsp-{kind}", n, count, command) for _ in range(max(1, ctx.repeat))
        )
        case = f"task-spooler (-S {count}): {n} x {command}"
        report.add(Row(NAME, case, n / seconds, "jobs/s", floor=ref, floor_name=ref_name))
        if kind == "dispatch":
            report.add(_beside(ours, n / seconds, "task-spooler", count))
    report.add(Row(NAME, "task-spooler: enqueue one", tsp_enqueue_one(ctx, tsp, 9) * 1000, "ms"))


def _queuectl_rate(ctx: Context, jobs: int, count: int) -> float:
    """queuectl's whole-process rate on the dispatch work: dispatch's, if it ran."""
    for key, rate in ctx.shared.items():
        if key.startswith("dispatch:") and key.endswith(f":{count}"):
            return float(rate)
    ctx.log(f"peers: queuectl, {jobs} x true at --count {count}")
    seconds = min(
        run_worker(ctx, f"peers-queuectl-{count}", jobs, count, "true")
        for _ in range(max(1, ctx.repeat))
    )
    return jobs / seconds


def _beside(ours: float, theirs: float, peer: str, count: int) -> Row:
    return Row(
        NAME,
        f"queuectl beside {peer}: true at {count} workers",
        ours,
        "jobs/s",
        floor=theirs,
        floor_name=f"{peer}'s rate in this run",
        goal=GOALS[peer],
    )
