"""Runners that die, stall or are stopped under load: no job is lost or run twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from queuectl.domain.models import JobState
from tests import pgsupport
from tests.conftest import CLI
from tests.faults.helpers import has_runner, job_of, job_processes, jobs_of, lines
from tests.helpers import eventually
from tests.processes import Runners

# Attempt 1 blocks for a long time; any later attempt finishes at once.
_FIRST_ATTEMPT_HANGS = (
    'echo "start $QUEUECTL_ATTEMPT" >> {log}; '
    '[ "$QUEUECTL_ATTEMPT" -gt 1 ] || sleep 60; '
    'echo "end $QUEUECTL_ATTEMPT" >> {log}'
)


def _enqueue(cli: CLI, **job: object) -> None:
    cli("enqueue", json.dumps(job), check=True)


async def test_sigkilled_runner_orphan_is_ended_and_job_completes_once(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    _enqueue(cli, id="victim", command=_FIRST_ATTEMPT_HANGS.format(log=log))
    first = runners.start()
    await eventually(lambda: lines(log) == ["start 1"], what="attempt 1 to start")

    os.kill(first.pid, signal.SIGKILL)  # the runner only: its command lives on
    first.wait(timeout=10)
    assert job_processes(cli, "victim"), "the command should have outlived its runner"
    assert (await job_of(cli, "victim")).state == JobState.PROCESSING

    second = runners.start("--burst")
    assert second.wait(timeout=60) == 0, runners.log(second)

    job = await job_of(cli, "victim")
    assert job.state == JobState.COMPLETED
    assert job.attempts == 2
    assert lines(log) == ["start 1", "start 2", "end 2"]  # the orphan never finished
    assert job_processes(cli, "victim") == []
    assert all(j.state != JobState.PROCESSING for j in (await jobs_of(cli)).values())


async def test_a_live_peer_recovers_a_dead_runners_job_without_waiting_for_a_timer(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    cli("config", "set", "lease-seconds", "600", check=True)  # timers 5 s and more apart
    log = tmp_path / "log"
    _enqueue(cli, id="victim", command=_FIRST_ATTEMPT_HANGS.format(log=log))
    first = runners.start()
    await eventually(lambda: lines(log) == ["start 1"], what="attempt 1 to start")
    second = runners.start()
    await eventually(lambda: has_runner(cli, second.pid), what="the second runner")

    os.kill(first.pid, signal.SIGKILL)
    # The peer watches the dead runner's pid: it gives the job back at once, far
    # sooner than its 5-second recovery timer or the 600-second lease would.
    await eventually(lambda: lines(log) == ["start 1", "start 2", "end 2"], within=4)
    assert job_processes(cli, "victim") == []


async def test_stalled_runner_loses_its_job_and_its_late_result_is_dropped(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    cli("config", "set", "lease-seconds", "2", check=True)
    cli("config", "set", "kill-grace", "1", check=True)
    log = tmp_path / "log"
    _enqueue(cli, id="stalled", command=_FIRST_ATTEMPT_HANGS.format(log=log))
    first = runners.start()
    await eventually(lambda: lines(log) == ["start 1"], what="attempt 1 to start")

    os.kill(first.pid, signal.SIGSTOP)
    second = runners.start()
    await eventually(
        lambda: lines(log) == ["start 1", "start 2", "end 2"], what="the takeover to finish"
    )
    await eventually(
        lambda: _state_is(cli, "stalled", JobState.COMPLETED), what="the takeover recorded"
    )

    os.kill(first.pid, signal.SIGCONT)
    await eventually(lambda: "dropped" in runners.log(first), what="the stale result dropped")
    job = await job_of(cli, "stalled")
    assert job.state == JobState.COMPLETED
    assert job.attempts == 2
    assert job.exit_code == 0
    assert cli("worker", "stop", timeout=60).returncode == 0
    assert first.wait(timeout=30) == 0
    assert second.wait(timeout=30) == 0
    assert (await job_of(cli, "stalled")).state == JobState.COMPLETED
    assert "end 1" not in lines(log)


async def _state_is(cli: CLI, job_id: str, state: JobState) -> bool:
    return (await job_of(cli, job_id)).state == state


async def test_sigterm_under_load_finishes_running_jobs_and_keeps_the_rest(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    command = (
        f'echo "start $QUEUECTL_JOB_ID" >> {log}; sleep 3; echo "end $QUEUECTL_JOB_ID" >> {log}'
    )
    specs = "\n".join(json.dumps({"id": f"j{i:03}", "command": command}) for i in range(108))
    cli("enqueue", "-", input=specs, check=True)
    runner = runners.start("--count", "8")
    await eventually(lambda: len(lines(log)) >= 8, what="8 jobs to start")

    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=60) == 0, runners.log(runner)

    jobs = await jobs_of(cli)
    started = {line.split()[1] for line in lines(log) if line.startswith("start")}
    ended = {line.split()[1] for line in lines(log) if line.startswith("end")}
    assert len(started) == 8
    assert ended == started
    assert {j.id for j in jobs.values() if j.state == JobState.COMPLETED} == started
    pending = [j for j in jobs.values() if j.state == JobState.PENDING]
    assert len(pending) == 100
    assert all(j.attempts == 0 for j in pending)
    assert not [j for j in jobs.values() if j.state == JobState.PROCESSING]


async def test_bulk_enqueue_killed_midway_stores_all_or_nothing(cli: CLI, tmp_path: Path) -> None:
    total = 200_000
    data = tmp_path / "jobs.jsonl"
    data.write_text("".join(f'{{"command": "echo {i}"}}\n' for i in range(total)))
    cli("status", check=True)  # create the store
    written = _written_bytes(cli, tmp_path)
    size_before = await written()
    proc = cli.popen("enqueue", "--file", str(data))
    deadline = time.monotonic() + 60
    # Kill it while the insert transaction is being written (the store's files grow).
    while proc.poll() is None and time.monotonic() < deadline:
        if await written() > size_before + 1_000_000:
            break
        await asyncio.sleep(0.001)
    proc.kill()
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "the enqueue ended before it was killed"
    counts = (await jobs_of(cli)).values()
    assert len(counts) in (0, total)


def _written_bytes(cli: CLI, tmp_path: Path) -> Callable[[], Awaitable[int]]:
    """How much the store has written so far: SQLite's WAL, or the test schema's tables
    (PostgreSQL extends a table's files as uncommitted rows are inserted)."""

    async def wal() -> int:
        path = Path(cli.db + "-wal")
        return path.stat().st_size if path.exists() else 0

    async def tables() -> int:
        import asyncpg

        conn = await asyncpg.connect(pgsupport.PG_URL)
        try:
            size = await conn.fetchval(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = $1 AND c.relkind = 'r'",
                pgsupport.schema_for(tmp_path),
            )
        finally:
            await conn.close()
        return int(size)

    return tables if cli.db.startswith("postgres") else wal
