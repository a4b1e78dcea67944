"""enqueue: one ``queuectl enqueue`` as a whole process, and a bulk ``enqueue -``.

Floors: for one enqueue, Python importing the libraries the command needs (median of
the same number of runs, interleaved with the command's); for bulk, one ``executemany``
of the same rows through sqlite3 into a store of the same schema.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
import uuid

from benchmarks.harness import Context, Param, Sizes, median, queuectl_argv, timed_run
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import create_store, state_counts

__all__ = ["NAME", "NEEDED", "PARAMS", "run"]

NAME = "enqueue"
PARAMS = {
    "runs": Param(15, "single enqueues (and floor runs) for the median"),
    "bulk": Param(100_000, "JSON lines in one bulk enqueue"),
}
#: What one enqueue cannot do without: the CLI framework, the driver, the event loop,
#: and the standard library's sqlite3 and json.
NEEDED = ("asyncclick", "aiosqlite", "uvloop", "sqlite3", "json")

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
    return f"imports beyond the floor: {total:.1f} ms (self time) in all; by package (ms): {top}"


def one(ctx: Context, runs: int, report: Report) -> None:
    home = ctx.home("enqueue-one")
    create_store(home)
    env = ctx.env(home)
    command = [*queuectl_argv(), "enqueue", '{"command": "true"}']
    floor_argv = [sys.executable, "-c", "import " + ", ".join(NEEDED)]
    bare = [sys.executable, "-c", "pass"]
    timed_run(command, env=env)  # warm the page cache
    ours, floor, python = [], [], []
    for _ in range(runs):
        ours.append(timed_run(command, env=env))
        floor.append(timed_run(floor_argv, env=env))
        python.append(timed_run(bare, env=env))
    report.add(
        Row(
            NAME,
            "one `queuectl enqueue` (median, whole process)",
            median(ours) * 1000,
            "ms",
            floor=median(floor) * 1000,
            floor_name=f"python -c 'import {', '.join(NEEDED)}'",
            goal=Goal("ratio<=", 1.3),
            note=_extra_imports(command, floor_argv, env),
        )
    )
    report.add(Row(NAME, "python -c pass (median)", median(python) * 1000, "ms"))


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
