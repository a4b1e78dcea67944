"""enqueue: one ``queuectl enqueue`` / ``add`` as a whole process, and bulk input.

Floors: for one enqueue, ``python -c 'import asyncclick, sqlite3, json'`` (median of the
same number of runs, interleaved with the command's), the floor the issue names. Beside
it, the least the agreed shape costs: the same imports plus asyncio and aiosqlite, one
connection on aiosqlite's thread and one statement. The peers' enqueue-one figures
(task-spooler, huey) come from the same run when they are installed.

Bulk: ``enqueue -`` against one ``executemany`` of the same rows through sqlite3 into a
store of the same schema; and ``enqueue --file`` of ``file`` lines for its peak memory
(wait4's ru_maxrss), which must not grow with the input.

Processes run with bytecode allowed (PYTHONDONTWRITEBYTECODE removed from their
environment) on the compiled copy of the package the harness makes.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid

from benchmarks.harness import (
    BenchError,
    Context,
    Param,
    Sizes,
    median,
    queuectl_argv,
    timed_run,
)
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import create_store, state_counts

__all__ = ["NAME", "NEEDED", "PARAMS", "run"]

NAME = "enqueue"
PARAMS = {
    "runs": Param(15, "single enqueues (and floor runs) for the median"),
    "bulk": Param(100_000, "JSON lines in one bulk enqueue -"),
    "file": Param(1_000_000, "JSON lines in one enqueue --file, for its peak memory"),
}
#: The floor the issue names: the CLI framework and the standard library's sqlite3, json.
NEEDED = ("asyncclick", "sqlite3", "json")
#: The least the agreed shape (an asyncio loop, aiosqlite) adds to it for one insert.
_SHAPE = """
import asyncclick, sqlite3, json, asyncio, aiosqlite
async def main():
    async with aiosqlite.connect({path!r}, isolation_level=None) as conn:
        await conn.execute("PRAGMA busy_timeout = 30000")
        await conn.execute("SELECT 1")
asyncio.run(main())
"""

_INSERT = """
INSERT INTO jobs (id, command, state, max_retries, priority, queue, timeout, run_at,
                  created_at, updated_at)
VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)
"""


def _import_times(argv: list[str], env: dict[str, str]) -> dict[str, int]:
    """The self import time (µs) of every module a process imports (-X importtime)."""
    result = subprocess.run(
        argv,
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    times: dict[str, int] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            times[match.group(2)] = int(match.group(1))
    return times


def _extra_imports(command: list[str], floor: list[str], env: dict[str, str]) -> str:
    """What the command imports beyond the floor, grouped by top-level package."""
    ours, base = _import_times(command, env), _import_times(floor, env)
    groups: dict[str, int] = {}
    for name, us in ours.items():
        if name not in base:
            top = name.partition(".")[0]
            groups[top] = groups.get(top, 0) + us
    total = sum(groups.values()) / 1000
    top = ", ".join(
        f"{name} {us / 1000:.1f}" for name, us in sorted(groups.items(), key=lambda x: -x[1])[:6]
    )
    return (
        f"imports beyond the shape's (asyncio, aiosqlite): {total:.1f} ms (self time) in all; "
        f"by package (ms): {top}"
    )


def _bytecode_allowed(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def one(ctx: Context, runs: int, report: Report) -> None:
    home = ctx.home("enqueue-one")
    path = create_store(home)
    env = _bytecode_allowed(ctx.env(home))
    command = [*queuectl_argv(), "enqueue", '{"command": "true"}']
    add = [*queuectl_argv(), "add", "--", "true"]
    floor_argv = [sys.executable, "-c", "import " + ", ".join(NEEDED)]
    shape = [sys.executable, "-c", _SHAPE.format(path=str(path))]
    bare = [sys.executable, "-c", "pass"]
    timed_run(command, env=env)  # warm the page cache
    times: dict[str, list[float]] = {"ours": [], "add": [], "floor": [], "shape": [], "bare": []}
    for _ in range(runs):
        for key, argv in (
            ("ours", command),
            ("floor", floor_argv),
            ("add", add),
            ("shape", shape),
            ("bare", bare),
        ):
            times[key].append(timed_run(argv, env=env))
    floor = median(times["floor"]) * 1000
    floor_name = f"python -c 'import {', '.join(NEEDED)}'"
    for key, case in (
        ("ours", "one `queuectl enqueue` (median, whole process)"),
        ("add", "one `queuectl add -- true` (median, whole process)"),
    ):
        report.add(
            Row(
                NAME,
                case,
                median(times[key]) * 1000,
                "ms",
                floor=floor,
                floor_name=floor_name,
                goal=Goal("ratio<=", 1.3),
                note=_extra_imports(command, [sys.executable, "-c", _SHAPE_IMPORTS], env)
                if key == "ours"
                else "",
            )
        )
    report.add(
        Row(
            NAME,
            "the agreed shape's least: + asyncio, aiosqlite, connect, one statement",
            median(times["shape"]) * 1000,
            "ms",
            floor=floor,
            floor_name=floor_name,
        )
    )
    report.add(Row(NAME, "python -c pass (median)", median(times["bare"]) * 1000, "ms"))
    _peers_one(ctx, runs, report)


_SHAPE_IMPORTS = "import asyncclick, sqlite3, json, asyncio, aiosqlite"


def _peers_one(ctx: Context, runs: int, report: Report) -> None:
    """The peers' enqueue-one figures, in the same run (skipped when not installed)."""
    import importlib.util

    from benchmarks.peers import _tsp, huey_enqueue_one, tsp_enqueue_one

    tsp = _tsp()
    if tsp is None:
        report.skip(NAME, "task-spooler is not installed (apt-get install task-spooler)")
    else:
        try:
            seconds = tsp_enqueue_one(ctx, tsp, runs)
        except (subprocess.CalledProcessError, BenchError) as exc:
            # tsp crashes when its socket's path is too long (a deep --tmp): say so.
            report.skip(NAME, f"task-spooler failed here: {exc}")
        else:
            report.add(Row(NAME, "task-spooler: `tsp -n true` (median)", seconds * 1000, "ms"))
    if importlib.util.find_spec("huey") is None:
        report.skip(NAME, "huey is not installed (pip install huey)")
    else:
        seconds = huey_enqueue_one(ctx, runs)
        report.add(
            Row(NAME, "huey: enqueue one from a fresh process (median)", seconds * 1000, "ms")
        )


def bulk(ctx: Context, count: int, report: Report) -> None:
    lines = "".join(json.dumps({"command": f"echo {i}"}) + "\n" for i in range(count))
    home = ctx.home("enqueue-bulk")
    path = create_store(home)
    seconds = min(
        timed_run([*queuectl_argv(), "enqueue", "-"], env=ctx.env(h), input=lines.encode())
        for h in [home, *(ctx.home("enqueue-bulk") for _ in range(max(1, ctx.repeat) - 1))]
    )
    if state_counts(path).get("pending") != count:
        raise RuntimeError("bulk enqueue did not store every line")
    floor = max(_executemany(ctx, count) for _ in range(max(1, ctx.repeat)))
    report.add(
        Row(
            NAME,
            f"bulk `enqueue -` of {count:,} JSON lines (whole process)",
            count / seconds,
            "jobs/s",
            floor=floor,
            floor_name="sqlite3: one executemany of the same rows in one transaction",
            goal=Goal("ratio>=", 0.25),
        )
    )


def bulk_file(ctx: Context, count: int, report: Report) -> None:
    """``enqueue --file`` of ``count`` lines: its peak memory and its rate."""
    home = ctx.home("enqueue-file")
    path = create_store(home)
    lines = home / "jobs.jsonl"
    with open(lines, "w") as out:
        for start in range(0, count, 10_000):
            out.write(
                "".join(
                    f'{{"command": "echo {i}"}}\n' for i in range(start, min(count, start + 10_000))
                )
            )
    argv = [*queuectl_argv(), "enqueue", "--file", str(lines)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=_bytecode_allowed(ctx.env(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    errors = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if proc.returncode != 0:
        raise BenchError(f"enqueue --file exited {proc.returncode}: {errors}")
    if state_counts(path).get("pending") != count:
        raise BenchError("enqueue --file did not store every line")
    report.add(
        Row(
            NAME,
            f"`enqueue --file` of {count:,} lines: peak RSS (whole process)",
            usage.ru_maxrss / 1024,
            "MB",
            goal=Goal("<=", 100),
            note=f"{count / seconds:,.0f} jobs/s",
        )
    )


def _executemany(ctx: Context, count: int) -> float:
    path = create_store(ctx.home("enqueue-floor"))
    now = time.time()
    rows = [
        (uuid.uuid4().hex, f"echo {i}", 3, 0, "default", None, now, now, now) for i in range(count)
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_INSERT, rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return count / seconds


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    ctx.log(f"enqueue: {sizes.integer('runs')} single enqueues")
    one(ctx, sizes.integer("runs"), report)
    ctx.log(f"enqueue: bulk of {sizes.integer('bulk'):,} lines")
    bulk(ctx, sizes.integer("bulk"), report)
    ctx.log(f"enqueue: --file of {sizes.integer('file'):,} lines")
    bulk_file(ctx, sizes.integer("file"), report)
