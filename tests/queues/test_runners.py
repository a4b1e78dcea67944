"""Pause and cap with real runner processes on a shared store (SQLite and PostgreSQL).

The commands themselves record when they run (start and end stamps appended to one
file), so the cap is measured where it matters: how many of a queue's commands were
running at the same moment, whatever the store believed.
"""

from __future__ import annotations

import json
from pathlib import Path

from queuectl.domain.models import JobState
from tests.conftest import CLI
from tests.faults.helpers import has_runner, jobs_of
from tests.helpers import eventually
from tests.processes import Runners


def stamped(log: Path, seconds: float) -> str:
    """A command that appends its start and end (nanoseconds) to ``log``."""
    return f'echo "S $(date +%s%N)" >> {log}; sleep {seconds}; echo "E $(date +%s%N)" >> {log}'


def most_at_once(log: Path) -> int:
    """The most commands running at once, by their stamps (an end before a start at
    the same nanosecond)."""
    events = []
    for line in log.read_text().splitlines():
        kind, at = line.split()
        events.append((int(at), 0 if kind == "E" else 1))
    running = most = 0
    for _, starts in sorted(events):
        running += 1 if starts else -1
        most = max(most, running)
    return most


def enqueue(cli: CLI, queue: str, command: str, count: int) -> None:
    lines = "".join(json.dumps({"command": command, "queue": queue}) + "\n" for _ in range(count))
    cli("enqueue", "-", input=lines, check=True)


async def all_completed(cli: CLI, queue: str | None = None) -> bool:
    jobs = [j for j in (await jobs_of(cli)).values() if queue is None or j.queue == queue]
    return all(j.state == JobState.COMPLETED for j in jobs)


async def test_four_runners_never_run_more_than_the_cap(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    capped, other = tmp_path / "capped.log", tmp_path / "other.log"
    cli("queue", "limit", "capped", "3", check=True)
    enqueue(cli, "capped", stamped(capped, 0.2), 24)
    enqueue(cli, "other", stamped(other, 0.2), 24)
    procs = [runners.start("--count", "8", "--quiet") for _ in range(4)]
    await eventually(lambda: all_completed(cli), within=120, what="both queues to drain")
    assert len(capped.read_text().splitlines()) == 48  # each of 24 jobs started and ended
    assert most_at_once(capped) <= 3
    assert most_at_once(capped) == 3  # the cap is a limit, not a stall
    # The other queue was not held back by the capped one: it ran wide.
    assert most_at_once(other) > 3
    for proc in procs:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


async def test_a_pause_holds_every_runner_and_resume_drains(
    cli: CLI, runners: Runners, tmp_path: Path
) -> None:
    gate, ran = tmp_path / "gate", tmp_path / "ran.log"
    cli("add", "--id", "long", "--queue", "p", "--", f"while [ ! -e {gate} ]; do sleep 0.05; done")
    here = runners.start("--count", "4", "--quiet")
    await eventually(lambda: _state(cli, "long", JobState.PROCESSING), what="the job to start")
    assert cli("queue", "pause", "p", check=True).stdout == "p: paused\n"
    enqueue(cli, "p", f"echo p >> {ran}", 5)
    # A runner on another host, started after the pause, honours it too.
    elsewhere_env = {**cli.env, "QUEUECTL_HOST": "elsewhere"}
    elsewhere = runners.start("--count", "4", "--quiet", env=elsewhere_env)
    await eventually(lambda: has_runner(cli, elsewhere.pid), what="the second runner")
    status = json.loads(cli("status", "--json", check=True).stdout)
    assert status["paused"] == ["p"]
    # Jobs queued after the paused ones run on both runners; the paused ones wait.
    enqueue(cli, "default", "true", 16)
    await eventually(lambda: all_completed(cli, "default"), within=60, what="default jobs")
    gate.touch()  # the running job of the paused queue finishes
    await eventually(lambda: _state(cli, "long", JobState.COMPLETED), what="the running job")
    enqueue(cli, "default", "true", 4)  # both runners have looked again since
    await eventually(lambda: all_completed(cli, "default"), within=60, what="default jobs")
    jobs = [j for j in (await jobs_of(cli)).values() if j.queue == "p" and j.id != "long"]
    assert [j.state for j in jobs] == [JobState.PENDING] * 5
    assert not ran.exists()
    assert cli("queue", "resume", "p", check=True).stdout == "p: resumed\n"
    await eventually(lambda: all_completed(cli, "p"), within=60, what="the resumed queue")
    assert len(ran.read_text().splitlines()) == 5
    for proc in (here, elsewhere):
        proc.terminate()
        assert proc.wait(timeout=30) == 0


async def _state(cli: CLI, job_id: str, state: JobState) -> bool:
    return (await jobs_of(cli))[job_id].state == state
