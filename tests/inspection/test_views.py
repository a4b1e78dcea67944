"""Every view of a job tells the same story, and none lets a job's bytes at the terminal.

The runner's text and JSON lines, ``show`` and ``show --json`` report a killed or
timed-out attempt with one reason, signal and exit code; ``list``, ``show``,
``dlq list``, ``status`` and the runner's lines escape control characters.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from tests.conftest import CLI
from tests.faults.helpers import job_of


def _enqueue(cli: CLI, job_id: str, command: str, **fields: object) -> None:
    cli("enqueue", json.dumps({"id": job_id, "command": command, **fields}), check=True)


def _line_of(lines: list[str], job_id: str) -> str:
    return next(line for line in lines if f"  {job_id}  " in line)


@pytest.mark.parametrize(
    ("command", "fields", "reason", "sig", "text_end", "show_end"),
    [
        ("kill -9 $$", {}, "signal", 9, ["dead", "(signal)", "signal", "9"], "signal 9"),
        (
            "sleep 30",
            {"timeout": 0.2},
            "timeout",
            15,
            ["dead", "(timeout)", "timeout", "(signal", "15)"],
            "timeout (signal 15)",
        ),
    ],
    ids=["killed", "timed-out"],
)
async def test_every_view_reports_the_same_reason_signal_and_exit_code(
    cli: CLI,
    command: str,
    fields: dict[str, object],
    reason: str,
    sig: int,
    text_end: list[str],
    show_end: str,
) -> None:
    _enqueue(cli, "as-text", command, max_retries=0, **fields)
    text = cli("worker", "start", "--burst", timeout=60).stderr.splitlines()
    words = _line_of(text, "as-text").split()
    assert [*words[2:4], *words[5:]] == text_end  # words[4] is the duration

    _enqueue(cli, "as-json", command, max_retries=0, **fields)
    out = cli("worker", "start", "--burst", "--log-format", "json", timeout=60).stderr
    line = next(json.loads(line) for line in out.splitlines() if '"as-json"' in line)
    assert (line["reason"], line["signal"], line["exit_code"]) == (reason, sig, None)

    for job_id in ("as-text", "as-json"):
        shown = cli("show", job_id, check=True).stdout
        assert f" {show_end} " in shown.splitlines()[-1]
        data = json.loads(cli("show", job_id, "--json", check=True).stdout)
        (attempt,) = data["attempt_history"]
        assert (attempt["reason"], attempt["signal"], attempt["exit_code"]) == (reason, sig, None)
        assert data["exit_code"] is None
        assert (await job_of(cli, job_id)).state == JobState.DEAD


ESC = "\x1b[2J"


def test_control_bytes_from_a_job_never_reach_the_terminal_but_stay_in_json(
    cli: CLI, tmp_path: Path
) -> None:
    command = f"printf '{ESC}boom\\a' >&2; echo '{ESC}'; exit 1"
    _enqueue(cli, "noisy", command, max_retries=0)
    runner = cli("worker", "start", "--burst", timeout=60)
    assert "\x1b" not in runner.stderr

    for args in (("list",), ("show", "noisy"), ("dlq", "list"), ("status",)):
        result = cli(*args, check=True)
        assert "\x1b" not in result.stdout + result.stderr, args
        assert "\x07" not in result.stdout + result.stderr, args
    assert "\\x1b[2Jboom\\x07" in cli("dlq", "list", check=True).stdout
    shown = cli("show", "noisy", check=True).stdout
    assert "command:    printf '\\x1b[2J" in shown
    assert "\\x1b[2Jboom\\x07" in shown

    (job,) = json.loads(cli("list", "--json", check=True).stdout)
    assert job["command"] == command
    assert job["last_error"].endswith(f"{ESC}boom\a")
    # `logs` prints what the job wrote, byte for byte: that is its job.
    assert cli("logs", "noisy", check=True).stdout == f"{ESC}\n"


def test_a_command_starting_with_a_dash_runs_as_that_command(cli: CLI, tmp_path: Path) -> None:
    tool = tmp_path / "bin" / "-greet"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho hello from $0\n")
    tool.chmod(0o755)
    env = {**cli.env, "PATH": f"{tool.parent}{os.pathsep}{cli.env['PATH']}"}
    cli.env.update(env)
    job_id = cli("add", "--retries", "0", "--", "-greet", check=True).stdout.strip()
    assert cli("worker", "start", "--burst", "--quiet", timeout=60).returncode == 0
    assert cli("logs", job_id, check=True).stdout.startswith("hello from")
    # And one that names no program fails as the shell says, not as an option of sh.
    missing = cli("add", "--retries", "0", "--", "-n", check=True).stdout.strip()
    cli("worker", "start", "--burst", "--quiet", timeout=60)
    assert "-n: not found" in cli("show", missing, check=True).stdout


def test_wait_names_each_unfinished_job_once_in_the_order_given(cli: CLI) -> None:
    _enqueue(cli, "c1", "true")
    _enqueue(cli, "c2", "true")
    result = cli("wait", "c1", "c2", "c1", "c2", "--timeout", "0.1")
    assert result.returncode == 124
    assert result.stderr.strip().endswith("not finished: c1, c2")


def test_the_readme_way_to_start_a_daemon_outlives_the_job(cli: CLI, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    daemon = f"setsid -w sh -c 'sleep 60 >/dev/null 2>&1 & echo $! >>{pids}'"
    for n in range(3):
        _enqueue(cli, f"d{n}", daemon, max_retries=0)
    assert cli("worker", "start", "--burst", "--quiet", "--count", "3", timeout=60).returncode == 0
    started = [int(pid) for pid in pids.read_text().split()]
    try:
        assert len(started) == 3
        for pid in started:
            os.kill(pid, 0)  # alive: raises ProcessLookupError otherwise
    finally:
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
