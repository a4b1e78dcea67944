"""queue overhead: jobs through the embedding API with a no-op ``execute``.

Floor: claim one job, then complete it, each its own transaction, through the sqlite3
module directly (WAL, synchronous=NORMAL) on a copy of the same store. Both sides run in
a fresh interpreter (``python -m benchmarks.overhead queuectl|sqlite3 DB …``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import BenchError, Context, Param, Sizes, run_async, run_child
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import add_pending, copy_store, create_store
from queuectl.store.sqlite.statements import RUNNABLE  # the floor uses queuectl's predicate

__all__ = ["NAME", "PARAMS", "measure_queue", "measure_sqlite3", "run"]

NAME = "overhead"
PARAMS = {
    "jobs": Param(20_000, "no-op jobs"),
    "counts": Param("1,16", "runner concurrency values", scaled=False),
}
#: The issue's goal applies at the highest concurrency measured.
GOAL = Goal("ratio>=", 0.5)

# The claim reads queuectl's partial claim index in order and stops at the first row;
# INDEXED BY makes sure of it (without it SQLite 3.40 picks the state index and sorts
# every runnable row for each claim). Dropped when the schema has no such index.
_CLAIM_ONE = """
UPDATE jobs SET state = 'processing', attempts = attempts + 1, token = token + 1,
    runner_id = :runner, lease_until = :now + 30, started_at = :now, updated_at = :now
WHERE seq = (SELECT seq FROM jobs {hint} WHERE {runnable} AND run_at <= :now
             ORDER BY priority DESC, run_at, seq LIMIT 1)
RETURNING seq, token
"""
_CLAIM_INDEX = "jobs_claim"

_COMPLETE = """
UPDATE jobs SET state = 'completed', exit_code = 0, finished_at = :now, updated_at = :now,
    runner_id = NULL, lease_until = NULL
WHERE seq = :seq AND token = :token AND state = 'processing'
"""


def measure_queue(db: str, home: Path, concurrency: int) -> float:
    """Jobs/s of a burst Runner with a no-op execute, in a fresh interpreter."""
    result = run_child("benchmarks.overhead", "queuectl", db, home, concurrency)
    if result["completed"] != result["expected"]:
        raise BenchError(f"overhead: {result['completed']} of {result['expected']} completed")
    return float(result["completed"]) / float(result["seconds"])


def measure_sqlite3(db: Path) -> float:
    result = run_child("benchmarks.overhead", "sqlite3", db)
    return float(result["completed"]) / float(result["seconds"])


def store_with(ctx: Context, label: str, template: Path | None, jobs: int) -> Path:
    """A fresh home whose store holds ``template``'s rows (if any) plus ``jobs`` pending."""
    home = ctx.home(label)
    path = create_store(home) if template is None else copy_store(template, home)
    add_pending(path, jobs)
    return path


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs, counts = sizes.integer("jobs"), sizes.integers("counts")
    ctx.log(f"overhead: sqlite3 floor, {jobs} jobs")
    floor = max(
        measure_sqlite3(store_with(ctx, "overhead-floor", None, jobs))
        for _ in range(max(1, ctx.repeat))
    )
    for count in counts:
        ctx.log(f"overhead: queuectl runner, {jobs} jobs, concurrency {count}")
        figure = max(
            measure_queue(str(path), path.parent, count)
            for path in (
                store_with(ctx, f"overhead-c{count}", None, jobs) for _ in range(max(1, ctx.repeat))
            )
        )
        ctx.shared[f"overhead:{jobs}:{count}"] = figure
        report.add(
            Row(
                NAME,
                f"{jobs} no-op jobs, concurrency {count}",
                figure,
                "jobs/s",
                floor=floor,
                floor_name="sqlite3: claim one by the claim index, then complete it "
                "(WAL, synchronous=NORMAL)",
                goal=GOAL if count == max(counts) else None,
            )
        )


# -- the child processes ------------------------------------------------------
def _child_queue(db: str, home: str, concurrency: int) -> dict[str, Any]:
    from queuectl.api.queue import Queue
    from queuectl.domain.models import Job, JobState, Outcome

    async def noop(job: Job) -> Outcome | None:
        return None

    async def go() -> dict[str, Any]:
        async with Queue.open(db, home=home) as queue:
            expected = (await queue.counts())[JobState.PENDING]
            runner = queue.runner(concurrency=concurrency, burst=True, execute=noop)
            start = time.perf_counter()
            stats = await runner.run()
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "completed": stats.completed, "expected": expected}

    return run_async(go())


def _child_sqlite3(db: str) -> dict[str, Any]:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 30000")
    indexed = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?", (_CLAIM_INDEX,)
    ).fetchone()[0]
    claim = _CLAIM_ONE.format(
        hint=f"INDEXED BY {_CLAIM_INDEX}" if indexed else "", runnable=RUNNABLE
    )
    completed = 0
    start = time.perf_counter()
    while True:
        now = time.time()
        rows = conn.execute(claim, {"runner": "floor", "now": now}).fetchall()
        if not rows:
            break
        seq, token = rows[0]
        conn.execute(_COMPLETE, {"now": time.time(), "seq": seq, "token": token})
        completed += 1
    seconds = time.perf_counter() - start
    conn.close()
    return {"seconds": seconds, "completed": completed}


def main(argv: list[str]) -> None:
    if argv[0] == "queuectl":
        result = _child_queue(argv[1], argv[2], int(argv[3]))
    elif argv[0] == "sqlite3":
        result = _child_sqlite3(argv[1])
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
