"""logs, show, wait, cancel, status --watch and the runner's job lines, via the CLI."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from tests.conftest import CLI
from tests.faults.helpers import has_runner, job_of, job_processes, lines, peak_rss_kib
from tests.helpers import eventually
from tests.processes import Runners


def _enqueue(cli: CLI, job_id: str, command: str, **fields: object) -> None:
    cli("enqueue", json.dumps({"id": job_id, "command": command, **fields}), check=True)


def test_logs_prints_each_stream_to_its_own_and_can_pick(cli: CLI) -> None:
    _enqueue(cli, "both", "echo a; echo b >&2; echo c; echo d >&2", max_retries=0)
    assert cli("worker", "start", "--burst", "--quiet", timeout=60).returncode == 0
    both = cli("logs", "both", check=True)
    assert (both.stdout, both.stderr) == ("a\nc\n", "b\nd\n")
    assert cli("logs", "both", "--stderr", check=True).stdout == ""
    assert cli("logs", "both", "--stdout", "--tail", "1", check=True).stdout == "c\n"
    assert cli("logs", "nope").returncode == 1


async def test_a_50_mb_job_keeps_its_output_within_the_limit_and_the_runner_small(
    cli: CLI, runners: Runners
) -> None:
    _enqueue(cli, "huge", "head -c 50000000 /dev/zero | tr '\\0' x; echo; echo END")
    runner = runners.start("--quiet")
    await eventually(lambda: _completed(cli, "huge"), within=120, what="the 50 MB job")
    peak_kib = peak_rss_kib(runner.pid)
    cli("worker", "stop", check=True)
    out = cli("logs", "huge", check=True).stdout
    assert len(out) < 1024 * 1024 + 100  # output-limit: 1 MiB per stream by default
    assert out.startswith("x" * 1000)
    assert out.endswith("x\nEND\n")
    assert "bytes not kept" in out
    assert peak_kib < 100_000, f"runner peak RSS {peak_kib} KiB for 50 MB of output"


async def _completed(cli: CLI, job_id: str) -> bool:
    return (await job_of(cli, job_id)).state == JobState.COMPLETED


@pytest.mark.serial  # bounds the delay of each streamed line
async def test_logs_follow_streams_a_running_job_and_exits_with_its_code(
    cli: CLI, runners: Runners
) -> None:
    runner = runners.start("--quiet")
    await eventually(lambda: has_runner(cli, runner.pid), what="the runner")
    script = 'for i in 1 2 3 4 5; do echo "$i $(date +%s.%N)"; sleep 0.4; done; exit 7'
    _enqueue(cli, "ticks", script, max_retries=0)
    delays = []
    with cli.popen("logs", "--follow", "ticks", stdout=subprocess.PIPE) as follow:
        assert follow.stdout is not None
        for line in follow.stdout:
            _number, printed = line.split()
            delays.append(time.time() - float(printed))
        assert follow.wait(timeout=30) == 7
    assert len(delays) == 5
    # Flushed at least once a second and polled a few times a second.
    assert max(delays) < 2.5, delays
    assert (await job_of(cli, "ticks")).state == JobState.DEAD


def test_show_lists_every_attempt_with_its_exit_code(cli: CLI) -> None:
    cli("config", "set", "backoff-base", "1", check=True)
    _enqueue(cli, "twice", "exit $((QUEUECTL_ATTEMPT == 1 ? 3 : 0))", max_retries=2)
    assert cli("worker", "start", "--burst", "--quiet", timeout=60).returncode == 0
    data = json.loads(cli("show", "twice", "--json", check=True).stdout)
    history = data["attempt_history"]
    assert [(a["number"], a["exit_code"], a["reason"]) for a in history] == [
        (1, 3, "exit"),
        (2, 0, "exit"),
    ]
    assert all(a["host"] and a["pid"] and a["duration"] is not None for a in history)
    text = cli("show", "twice", check=True).stdout
    assert "state:      completed" in text
    assert "#1" in text
    assert "exit 3" in text
    assert "#2" in text
    assert "exit 0" in text


def test_wait_exit_codes(cli: CLI) -> None:
    _enqueue(cli, "ok", "true")
    _enqueue(cli, "bad", "false", max_retries=0)
    _enqueue(cli, "later", "true", delay=3600)
    assert cli("worker", "start", "--burst", "--quiet", timeout=60).returncode == 0
    done = cli("wait", "ok")
    assert (done.returncode, done.stdout) == (0, "ok completed\n")
    assert cli("wait", "ok", "bad").returncode == 1
    timed_out = cli("wait", "ok", "later", "--timeout", "0.3")
    assert timed_out.returncode == 124
    assert "later" in timed_out.stderr
    assert cli("wait", "ghost").returncode == 1


async def test_cancel_in_every_state(cli: CLI, runners: Runners, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    _enqueue(cli, "done", "true")
    assert cli("worker", "start", "--burst", "--quiet", timeout=60).returncode == 0
    _enqueue(cli, "running", f"sleep 60 & sleep 60; echo no >> {marker}", max_retries=3)
    _enqueue(cli, "pending", f"echo no >> {marker}", delay=3600)
    runner = runners.start("--quiet")
    await eventually(lambda: bool(job_processes(cli, "running")), what="the job to start")

    result = cli("cancel", "pending", "running", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "pending: cancelled",
        "running: cancelled (its command was stopped)",
    ]
    assert job_processes(cli, "running") == []
    finished = cli("cancel", "done")
    assert finished.returncode == 1
    assert "completed already" in finished.stderr
    cli("worker", "stop", check=True)
    assert runner.wait(timeout=30) == 0
    for job_id in ("running", "pending"):
        job = await job_of(cli, job_id)
        assert job.state == JobState.CANCELLED
    assert (await job_of(cli, "running")).attempts == 1  # not retried
    assert lines(marker) == []


def test_status_watch_refreshes_until_ctrl_c(cli: CLI) -> None:
    _enqueue(cli, "one", "true")
    seen: list[str] = []
    with cli.popen("status", "--watch", "--interval", "0.2", stdout=subprocess.PIPE) as watch:
        assert watch.stdout is not None
        for line in watch.stdout:
            seen.append(line)
            if sum(seen_line.startswith("Throughput:") for seen_line in seen) == 3:
                break
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=10) == 0
    assert sum(line == "  pending: 1\n" for line in seen) == 3


def test_worker_prints_a_line_per_job_as_text_or_json(cli: CLI) -> None:
    _enqueue(cli, "good", "true")
    _enqueue(cli, "boom", "exit 9", max_retries=0)
    text = cli("worker", "start", "--burst", timeout=60).stderr.splitlines()
    good = next(line for line in text if "  good  " in line)
    assert good.split()[2:] == ["completed", good.split()[3], "exit", "0"]
    boom = next(line for line in text if "  boom  " in line)
    assert "dead (exit)" in boom
    assert boom.endswith("exit 9")

    _enqueue(cli, "json-job", "true")
    out = cli("worker", "start", "--burst", "--log-format", "json", timeout=60).stderr
    records = [json.loads(line) for line in out.splitlines()]
    (job,) = [r for r in records if r.get("job") == "json-job"]
    assert (job["outcome"], job["exit_code"], job["attempt"]) == ("completed", 0, 1)
    assert job["duration"] >= 0
    assert any(r.get("message", "").startswith("runner stopped") for r in records)

    _enqueue(cli, "quiet-job", "true")
    quiet = cli("worker", "start", "--burst", "--quiet", timeout=60).stderr
    assert "quiet-job" not in quiet


def test_burst_on_a_terminal_shows_progress(cli: CLI) -> None:
    specs = "".join(json.dumps({"command": "sleep 0.2"}) + "\n" for _ in range(8))
    cli("enqueue", "-", input=specs, check=True)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "queuectl", "worker", "start", "--burst", "--quiet", "-c", "2"],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode()
    assert "jobs/s" in screen
    assert "ETA" in screen
    # The last line drawn has the final count, whenever the last refresh came.
    drawn = [part for part in screen.split("\r\x1b[K") if " done  " in part]
    assert drawn[-1].startswith("8/8 done"), drawn


async def test_ctrl_c_stops_following_but_not_the_job(cli: CLI, runners: Runners) -> None:
    runner = runners.start("--quiet")
    await eventually(lambda: has_runner(cli, runner.pid), what="the runner")
    _enqueue(cli, "long", "echo started; sleep 30", max_retries=0)
    with cli.popen("logs", "--follow", "long", stdout=subprocess.PIPE) as follow:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "started\n"
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=10) == 130
    assert (await job_of(cli, "long")).state == JobState.PROCESSING
    assert job_processes(cli, "long")
    cli("cancel", "long", check=True)
