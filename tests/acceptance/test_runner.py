"""``worker start``: burst runs, backoff, concurrency, wake-ups, several runners at once.

Job commands record what happened (timestamps, their own ids) in files, and the tests
judge the runner by those records and by the states the CLI reports.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

from queuectl.domain.models import JobState
from tests.acceptance.helpers import (
    STAMP,
    QueueCtl,
    read_floats,
    shell_path,
    wait_until,
)


def test_burst_runs_a_mix_of_jobs_to_completion_or_the_dlq_and_exits_0(qctl: QueueCtl) -> None:
    jobs = [
        {"id": "ok-1", "command": "true"},
        {"id": "ok-2", "command": "echo Hello World"},
        {"id": "exits-3", "command": "echo boom >&2; exit 3", "max_retries": 0},
        {"id": "not-found", "command": "no-such-command-queuectl", "max_retries": 0},
        {"id": "ok-3", "command": "sleep 0.1"},
    ]
    qctl.ok("enqueue", "-", input="".join(json.dumps(job) + "\n" for job in jobs))

    result = qctl.run("worker", "start", "--burst", "--count", "2")

    assert result.returncode == 0, result.stderr
    states = {job.id: job for job in qctl.jobs()}
    assert {i: j.state for i, j in states.items()} == {
        "ok-1": JobState.COMPLETED,
        "ok-2": JobState.COMPLETED,
        "exits-3": JobState.DEAD,
        "not-found": JobState.DEAD,
        "ok-3": JobState.COMPLETED,
    }
    assert states["exits-3"].exit_code == 3
    assert "boom" in (states["exits-3"].last_error or "")
    assert states["not-found"].exit_code == 127
    assert qctl.json("status")["jobs"] == {
        "pending": 0,
        "processing": 0,
        "completed": 3,
        "failed": 0,
        "dead": 2,
        "cancelled": 0,
    }


def test_burst_on_an_empty_queue_exits_0_at_once(qctl: QueueCtl) -> None:
    result = qctl.run("worker", "start", "--burst")

    assert result.returncode == 0, result.stderr
    assert qctl.json("status")["workers"] == []


def test_failing_job_backs_off_then_runs_1_plus_max_retries_times_and_dies(
    qctl: QueueCtl, scratch: Path
) -> None:
    qctl.ok("config", "set", "backoff-base", "1")  # every retry waits 1 ** k = 1 s
    times = scratch / "times"
    job_id = qctl.enqueue(f"{STAMP} >> {shell_path(times)}; exit 1", max_retries=2)

    result = qctl.run("worker", "start", "--burst")

    assert result.returncode == 0, result.stderr
    runs = read_floats(times)
    assert len(runs) == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    assert all(gap >= 0.95 for gap in gaps), gaps
    [dead] = qctl.json("dlq", "list")
    assert (dead["id"], dead["state"], dead["attempts"]) == (job_id, "dead", 3)
    assert dead["exit_code"] == 1


def test_count_4_runs_4_sleeps_at_the_same_time(qctl: QueueCtl, scratch: Path) -> None:
    for i in range(4):
        start, end = shell_path(scratch / f"start-{i}"), shell_path(scratch / f"end-{i}")
        qctl.enqueue(f"{STAMP} > {start}; sleep 1.5; {STAMP} > {end}", id=f"sleep-{i}")

    result = qctl.run("worker", "start", "--count", "4", "--burst")

    assert result.returncode == 0, result.stderr
    starts = [read_floats(scratch / f"start-{i}")[0] for i in range(4)]
    ends = [read_floats(scratch / f"end-{i}")[0] for i in range(4)]
    # All four were running at once: each started before any of them ended.
    assert max(starts) < min(ends), (starts, ends)
    assert {job.state for job in qctl.jobs()} == {JobState.COMPLETED}


def test_idle_runner_picks_up_a_new_job_without_waiting_for_the_poll(
    qctl: QueueCtl, scratch: Path
) -> None:
    qctl.ok("config", "set", "poll-interval", "600")
    runner = qctl.start()
    # A first job proves the runner is past start-up and back to waiting for work.
    qctl.enqueue("true", id="warm-up")
    qctl.wait_for_state("warm-up", JobState.COMPLETED)

    qctl.enqueue(f"touch {shell_path(scratch / 'ran')}", id="prompt")

    job = qctl.wait_for_state("prompt", JobState.COMPLETED, timeout=30)
    assert job.started_at is not None
    assert (job.started_at - job.created_at).total_seconds() < 5
    assert (scratch / "ran").exists()
    qctl.ok("worker", "stop")
    assert runner.wait() == 0


def test_three_runners_on_one_home_run_every_job_exactly_once(
    qctl: QueueCtl, scratch: Path
) -> None:
    out = scratch / "ran"
    count = 300
    runners = [qctl.start("--count", "4") for _ in range(3)]
    # Each command appends one short line (O_APPEND: atomic): its id and its runner.
    lines = "".join(
        json.dumps(
            {
                "id": f"job-{i:03}",
                "command": f'echo "job-{i:03} $QUEUECTL_RUNNER_ID" >> {shell_path(out)}',
            }
        )
        + "\n"
        for i in range(count)
    )

    qctl.ok("enqueue", "-", input=lines)

    wait_until(lambda: qctl.counts()[JobState.COMPLETED] == count, f"{count} jobs to complete", 120)
    stopped = qctl.ok("worker", "stop")
    assert f"stopped {len(runners)} runner(s)" in stopped
    assert [runner.wait() for runner in runners] == [0, 0, 0]
    records = [line.split() for line in out.read_text().splitlines()]
    ran = Counter(job_id for job_id, _ in records)
    assert set(ran) == {f"job-{i:03}" for i in range(count)}
    assert [job_id for job_id, times in ran.items() if times != 1] == []
    assert {(job.state, job.attempts) for job in qctl.jobs()} == {(JobState.COMPLETED, 1)}
    # The runners really competed for the jobs (else this proves nothing).
    assert len({runner_id for _, runner_id in records}) >= 2


def test_failed_job_waits_out_its_backoff_in_state_failed(qctl: QueueCtl) -> None:
    qctl.ok("config", "set", "backoff-base", "600")
    job_id = qctl.enqueue("exit 4", max_retries=1)
    runner = qctl.start()

    job = qctl.wait_for_state(job_id, JobState.FAILED)

    assert (job.attempts, job.exit_code) == (1, 4)
    assert job.finished_at is not None
    assert 590 <= (job.run_at - job.finished_at).total_seconds() <= 610  # 600 ** 1 s
    assert qctl.json("status")["jobs"]["failed"] == 1
    assert [j["id"] for j in qctl.json("list", "--state", "failed")] == [job_id]
    qctl.ok("worker", "stop")
    assert runner.wait() == 0
    assert qctl.job(job_id) == job
