"""Stopping runners: ``worker stop`` and signals drain; a second signal or a timeout is hard.

A drain lets running commands finish and records them; a hard stop ends the commands
(their whole process groups) and gives their jobs back to pending, attempt uncounted.
Either way the runner exits 0.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from tests.acceptance.helpers import Gate, QueueCtl, RunnerProcess, group_alive, wait_until


def read_ints(path: Path) -> list[int]:
    return [int(word) for word in path.read_text().split()]


def _sleeper(qctl: QueueCtl, scratch: Path, name: str) -> Path:
    """Enqueue a long ``sleep`` that writes its process group id first; returns that file."""
    pid_file = scratch / f"{name}.pgid"
    qctl.enqueue(f"echo $$ > '{pid_file}'; sleep 60", id=name)
    return pid_file


def _pgid(pid_file: Path) -> int:
    """The group id a sleeper wrote, once it has started (its shell leads its own group)."""
    text = wait_until(
        lambda: pid_file.exists() and pid_file.read_text().strip(), f"{pid_file.name} to start"
    )
    return int(text)


def _wait_for_log(runner: RunnerProcess, text: str) -> None:
    wait_until(lambda: text in runner.stderr(), f"runner to log {text!r}")


def _assert_given_back_uncounted(qctl: QueueCtl, job_id: str) -> None:
    job = qctl.job(job_id)
    assert (job.state, job.attempts) == (JobState.PENDING, 0), job


def test_worker_stop_with_no_runner_exits_1(qctl: QueueCtl) -> None:
    message = qctl.fails(1, "worker", "stop")

    assert "no runner" in message


def test_worker_stop_drains_the_running_job_and_returns_after_the_runner_exits(
    qctl: QueueCtl, scratch: Path
) -> None:
    gate = Gate(scratch, "job")
    qctl.enqueue(gate.command, id="job")
    runner = qctl.start()
    gate.wait_started()

    stop = qctl.spawn("worker", "stop")
    wait_until(lambda: all(r.stop_requested for r in qctl.live_runners()), "the stop request")
    assert stop.poll() is None  # still waiting: the job runs on
    assert runner.popen.poll() is None
    gate.open()
    out, err = stop.communicate(timeout=30)

    assert stop.returncode == 0, err
    assert out == f"stopped 1 runner(s): pid {runner.pid}\n"
    assert runner.popen.poll() == 0, "worker stop returned before the runner exited"
    assert gate.done.exists()
    job = qctl.job("job")
    assert (job.state, job.attempts) == (JobState.COMPLETED, 1)
    assert "Worker manager running: False" in qctl.ok("status")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_the_running_job_claims_no_more_and_exits_0(
    qctl: QueueCtl, scratch: Path, sig: signal.Signals
) -> None:
    gate = Gate(scratch, "job")
    qctl.enqueue(gate.command, id="job")
    runner = qctl.start()
    gate.wait_started()

    runner.signal(sig)
    _wait_for_log(runner, f"{sig.name}: draining")
    qctl.enqueue("true", id="late")
    assert runner.popen.poll() is None
    assert not gate.done.exists()
    gate.open()

    assert runner.wait() == 0
    assert gate.done.exists()
    job = qctl.job("job")
    assert (job.state, job.attempts) == (JobState.COMPLETED, 1)
    late = qctl.job("late")
    assert (late.state, late.attempts) == (JobState.PENDING, 0)


def test_second_sigterm_ends_the_commands_and_gives_their_jobs_back_uncounted(
    qctl: QueueCtl, scratch: Path
) -> None:
    pid_files = [_sleeper(qctl, scratch, f"sleeper-{i}") for i in range(2)]
    runner = qctl.start("--count", "2")
    groups = [_pgid(path) for path in pid_files]
    assert all(map(group_alive, groups))

    runner.signal(signal.SIGTERM)
    _wait_for_log(runner, "SIGTERM: draining")
    began = time.monotonic()
    runner.signal(signal.SIGTERM)

    assert runner.wait() == 0
    assert time.monotonic() - began < 30  # not the 60 s the sleeps would take
    wait_until(lambda: not any(map(group_alive, groups)), "the commands' groups to be gone", 5)
    for i in range(2):
        _assert_given_back_uncounted(qctl, f"sleeper-{i}")
    assert "2 given back" in runner.stderr()


def test_worker_stop_timeout_escalates_to_a_hard_stop(qctl: QueueCtl, scratch: Path) -> None:
    pid_file = _sleeper(qctl, scratch, "sleeper")
    runner = qctl.start()
    group = _pgid(pid_file)

    began = time.monotonic()
    result = qctl.run("worker", "stop", "--timeout", "1")
    elapsed = time.monotonic() - began

    assert result.returncode == 0, result.stderr
    assert "stopping hard" in result.stderr
    assert 1 <= elapsed < 30
    assert runner.popen.poll() == 0, "worker stop returned before the runner exited"
    wait_until(lambda: not group_alive(group), "the command's group to be gone", 5)
    _assert_given_back_uncounted(qctl, "sleeper")


def test_worker_stop_stops_every_runner_of_the_home(qctl: QueueCtl) -> None:
    runners = [qctl.start(), qctl.start("--count", "2")]

    out = qctl.ok("worker", "stop")

    assert out.startswith("stopped 2 runner(s): pid ")
    assert [runner.popen.poll() for runner in runners] == [0, 0]
    assert qctl.json("status")["workers"] == []


def test_a_killed_runner_is_ignored_by_status_and_worker_stop(
    qctl: QueueCtl, scratch: Path
) -> None:
    runner = qctl.start()
    runner.popen.kill()
    runner.popen.wait()

    assert qctl.ok("status").endswith("Worker manager running: False\n")
    assert qctl.json("status")["workers"] == []
    qctl.fails(1, "worker", "stop")


def test_a_burst_runner_gives_back_and_reruns_the_job_of_a_killed_runner(
    qctl: QueueCtl, scratch: Path
) -> None:
    runs, pid_file = scratch / "runs", scratch / "pgid"
    # The first run hangs (and records its group); the second one succeeds at once.
    qctl.enqueue(
        f"echo $$ >> '{runs}'; test -e '{pid_file}' && exit 0; echo $$ > '{pid_file}'; sleep 60",
        id="orphan",
    )
    crashed = qctl.start()
    group = _pgid(pid_file)
    crashed.popen.kill()  # SIGKILL: no drain, no clean-up; the command lives on
    crashed.popen.wait()
    assert group_alive(group)

    result = qctl.run("worker", "start", "--burst")

    assert result.returncode == 0, result.stderr
    job = qctl.job("orphan")
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert len(read_ints(runs)) == 2
    # The orphaned copy was ended: a job never runs twice at once.
    assert not group_alive(group)
