"""The kept counts stay exact while several runner processes share a store.

Three real runners (one of them killed with SIGKILL midway, its jobs recovered by the
others) run jobs that complete, fail and retry, die, wait for others, and are cancelled
while waiting or running; meanwhile this process purges, removes, requeues and retries
dead jobs. At the end the counts the store keeps must equal a count of the rows, and
the finished totals must add up to what happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.models import FINISHED_STATES, JobState
from tests import pgsupport
from tests.conftest import CLI
from tests.helpers import eventually
from tests.processes import Runners

pytestmark = pytest.mark.slow

_JOBS = 90


def _specs(marks: Path) -> list[dict[str, object]]:
    """Six kinds in turn, over two queues."""
    specs: list[dict[str, object]] = []
    for i in range(_JOBS):
        spec: dict[str, object] = {"id": f"j{i:03}", "queue": "ab"[i % 2], "backoff_max": 0.05}
        kind = i % 6
        if kind == 0:
            spec["command"] = "true"
        elif kind == 1:
            spec.update(command="exit 1", max_retries=1)  # fails, then dies
        elif kind == 2:  # fails once, then completes
            mark = marks / spec["id"]  # type: ignore[operator]
            spec.update(command=f"test -e {mark} || {{ touch {mark}; exit 1; }}", max_retries=2)
        elif kind == 3:
            spec["command"] = "sleep 0.3"  # some are cancelled, waiting or running
        elif kind == 4:
            spec.update(command="true", after=[f"j{i - 3:03}"])  # its dependency dies
        else:
            spec.update(command="true", after=[f"j{i - 5:03}"])  # waits, then runs
        specs.append(spec)
    return specs


async def _real_counts(cli: CLI, tmp_path: Path) -> dict[tuple[str, JobState], int]:
    """COUNT(*) GROUP BY queue, state on the rows themselves, outside the store code."""
    query = "SELECT queue, state, count(*) FROM {s}jobs GROUP BY queue, state"
    if cli.db.startswith("postgres"):
        import asyncpg

        pg = await asyncpg.connect(pgsupport.PG_URL)
        try:
            schema = '"' + pgsupport.schema_for(tmp_path) + '".'
            rows = [tuple(r) for r in await pg.fetch(query.format(s=schema))]
        finally:
            await pg.close()
    else:
        with contextlib.closing(sqlite3.connect(cli.db)) as conn:
            rows = conn.execute(query.format(s="")).fetchall()
    return {(queue, JobState(state)): n for queue, state, n in rows}


def _kept(counts: dict[str, dict[JobState, int]]) -> dict[tuple[str, JobState], int]:
    return {(q, s): n for q, per in counts.items() for s, n in per.items() if n}


async def test_kept_counts_stay_exact_under_concurrent_runners(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    cli("config", "set", "backoff-base", "1", check=True)
    cli("config", "set", "poll-interval", "0.2", check=True)
    lines = "\n".join(json.dumps(s) for s in _specs(marks)) + "\n"
    cli("enqueue", "-", input=lines, check=True)
    procs = [runners.start("--count", "4", "--quiet") for _ in range(3)]
    #: outcomes taken out of the "now" counts by this process, per (queue, outcome)
    gone: Counter[tuple[str, str]] = Counter()
    async with Queue.open(cli.db, home=cli.home) as queue:
        # cancel some sleepers, waiting or running
        await queue.cancel([f"j{i:03}" for i in range(3, _JOBS, 12)])

        async def finished(state: JobState) -> list[tuple[str, str]]:
            return [(j.id, j.queue) async for j in queue.jobs(state=state)]

        await eventually(lambda: _some(queue, JobState.COMPLETED, 10), what="10 completed")
        os.kill(procs[0].pid, signal.SIGKILL)  # its jobs go back to the others
        procs[0].wait(timeout=10)
        await eventually(lambda: _some(queue, JobState.DEAD, 3), what="3 dead")
        for job_id, name in (await finished(JobState.DEAD))[:3]:
            await queue.retry(job_id)  # dlq retry: it dies again
            gone[name, "dead"] += 1
        completed = await finished(JobState.COMPLETED)
        results = await queue.requeue([job_id for job_id, _ in completed[:4]])
        assert set(results.values()) == {"requeued"}
        gone.update((name, "completed") for _, name in completed[:4])
        cancelled = await finished(JobState.CANCELLED)
        assert set((await queue.remove([j for j, _ in cancelled[:3]])).values()) == {"removed"}
        gone.update((name, "cancelled") for _, name in cancelled[:3])
        for name in ("a", "b"):
            gone[name, "completed"] += await queue.purge(
                states=frozenset({JobState.COMPLETED}), queue=name
            )

        async def all_finished() -> bool:
            counts = await queue.counts()
            return not any(n for s, n in counts.items() if s not in FINISHED_STATES)

        await eventually(all_finished, within=60, what="every job to finish")
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in procs[1:]:
            assert proc.wait(timeout=30) == 0, runners.log(proc)

        real = await _real_counts(cli, tmp_path)
        assert _kept(await queue.store.count_jobs()) == real
        totals = await queue.finished_totals()
        expected = {
            (name, state.value): real.get((name, state), 0) + gone[name, state.value]
            for name in ("a", "b")
            for state in FINISHED_STATES
        }
        assert {k: v for k, v in totals.items() if k[1] != "failed"} == {
            k: v for k, v in expected.items() if v
        }
        assert totals["a", "failed"] + totals["b", "failed"] > 0


async def _some(queue: Queue, state: JobState, n: int) -> bool:
    return (await queue.counts())[state] >= n
