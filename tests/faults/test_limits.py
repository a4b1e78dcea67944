"""Hung commands, heavy output, many jobs, many writers: bounded time, memory and locks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from queuectl.api.queue import Queue
from queuectl.domain.models import JobState
from tests.conftest import CLI
from tests.faults.helpers import job_of, job_processes, jobs_of, lines, peak_rss_kib
from tests.helpers import eventually
from tests.processes import Runners


def _seconds(job_started: object, job_finished: object) -> float:
    from datetime import datetime

    assert isinstance(job_started, datetime)
    assert isinstance(job_finished, datetime)
    return (job_finished - job_started).total_seconds()


async def test_timeout_ends_a_hung_command_and_counts_as_a_failure(cli: CLI) -> None:
    job = {"id": "hung", "command": "sleep 60", "timeout": 1, "max_retries": 0}
    cli("enqueue", json.dumps(job), check=True)
    assert cli("worker", "start", "--burst", timeout=60).returncode == 0
    record = await job_of(cli, "hung")
    assert record.state == JobState.DEAD
    assert record.last_error is not None
    assert record.last_error.startswith("timed out after 1s")
    assert 0.9 <= _seconds(record.started_at, record.finished_at) < 10


async def test_timeout_kills_commands_that_ignore_sigterm_and_their_children(
    cli: CLI, tmp_path: Path
) -> None:
    cli("config", "set", "kill-grace", "0.5", check=True)
    cli("config", "set", "job-timeout", "1", check=True)  # the default, from config
    marker = tmp_path / "children"
    stubborn = (
        "trap '' TERM; "
        f"(trap '' TERM; sleep 60; echo grandchild >> {marker}) & "
        f"sh -c \"trap '' TERM; sleep 60; echo child >> {marker}\" & "
        "sleep 60"
    )
    cli(
        "enqueue", json.dumps({"id": "stubborn", "command": stubborn, "max_retries": 0}), check=True
    )
    assert cli("worker", "start", "--burst", timeout=60).returncode == 0
    record = await job_of(cli, "stubborn")
    assert record.state == JobState.DEAD
    assert record.last_error is not None
    assert "timed out" in record.last_error
    assert job_processes(cli, "stubborn") == []
    assert lines(marker) == []


async def test_heavy_output_does_not_grow_the_runner(cli: CLI, runners: Runners) -> None:
    # 300 MB on stderr and on stdout; the runner keeps only a bounded tail.
    command = "head -c 300000000 /dev/zero | tr '\\0' x >&2; head -c 300000000 /dev/zero; exit 1"
    cli("enqueue", json.dumps({"id": "loud", "command": command, "max_retries": 0}), check=True)
    runner = runners.start()
    await eventually(lambda: _state_is_dead(cli, "loud"), within=120, what="the loud job")
    peak_kib = peak_rss_kib(runner.pid)
    cli("worker", "stop", check=True)
    record = await job_of(cli, "loud")
    assert record.last_error is not None
    assert len(record.last_error) < 5000
    assert record.last_error.endswith("xxxx")
    assert peak_kib < 150_000, f"runner peak RSS {peak_kib} KiB"


async def _state_is_dead(cli: CLI, job_id: str) -> bool:
    return (await job_of(cli, job_id)).state == JobState.DEAD


async def test_many_finished_jobs_do_not_grow_the_runner(cli: CLI, runners: Runners) -> None:
    async def run_batch(first: int) -> int:
        specs = "".join(
            json.dumps({"command": "true", "id": f"b{first + i}"}) + "\n" for i in range(1000)
        )
        cli("enqueue", "-", input=specs, check=True)
        await eventually(lambda: _all_done(cli), within=120, what="the batch to finish")
        return _rss_kib(runner.pid)

    runner = runners.start("--count", "8")
    await run_batch(0)  # warm-up: imports, caches, pools
    after_first = await run_batch(1000)
    after_second = await run_batch(2000)
    cli("worker", "stop", check=True)
    assert after_second - after_first < 3_000, (after_first, after_second)


async def _all_done(cli: CLI) -> bool:
    async with Queue.open(cli.db, home=cli.home) as queue:
        counts = await queue.counts()
    return counts[JobState.COMPLETED] == sum(counts.values())


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


_ENQUEUER = """
import asyncio, sys
from queuectl.api.queue import Queue

async def main(db, home, name, count):
    async with Queue.open(db, home=home) as queue:
        for i in range(count):
            await queue.enqueue(f"echo $QUEUECTL_JOB_ID >> {sys.argv[5]}", id=f"{name}-{i}")

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def test_concurrent_enqueuers_and_runners_lose_nothing_and_never_lock(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    done = tmp_path / "done"
    cli("status", check=True)  # create the store before the crowd arrives
    workers = [runners.start("--count", "4") for _ in range(3)]
    enqueuers = [
        subprocess.Popen(
            [sys.executable, "-c", _ENQUEUER, cli.db, str(cli.home), f"e{n}", "500", str(done)],
            env=cli.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    errors = [proc.communicate(timeout=300)[1] for proc in enqueuers]
    assert [proc.returncode for proc in enqueuers] == [0, 0, 0, 0], errors
    await eventually(lambda: _all_done(cli), within=300, what="all 2000 jobs")
    assert cli("worker", "stop", timeout=120).returncode == 0
    for proc in workers:
        assert proc.wait(timeout=60) == 0
    ids = lines(done)
    assert len(ids) == 2000
    assert len(set(ids)) == 2000
    jobs = await jobs_of(cli)
    assert len(jobs) == 2000
    assert all(j.state == JobState.COMPLETED and j.attempts == 1 for j in jobs.values())
    logs = "".join(errors) + "".join(runners.log(proc) for proc in workers)
    assert "locked" not in logs
    assert "Traceback" not in logs
