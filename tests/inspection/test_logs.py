"""``logs``: picking streams and attempts, and following a job through its retries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import CLI


def _enqueue(cli: CLI, job_id: str, command: str, **fields: object) -> None:
    cli("enqueue", json.dumps({"id": job_id, "command": command, **fields}), check=True)


def _burst(cli: CLI) -> None:
    assert cli("worker", "start", "--burst", "--quiet", timeout=60).returncode == 0


def test_an_attempt_that_does_not_exist_is_an_error(cli: CLI) -> None:
    _enqueue(cli, "att", "echo hi", max_retries=0)
    _burst(cli)
    for extra in ((), ("--follow",)):
        missing = cli("logs", "att", "--attempt", "9", *extra)
        assert missing.returncode == 1, missing
        assert missing.stderr == "queuectl: error: job att has no attempt 9 (1 so far)\n"
        assert missing.stdout == ""
    assert cli("logs", "att", "--attempt", "1", check=True).stdout == "hi\n"


def test_stdout_and_stderr_together_give_both_streams(cli: CLI) -> None:
    _enqueue(cli, "two", "echo out; echo err >&2", max_retries=0)
    _burst(cli)
    both = cli("logs", "two", "--stdout", "--stderr", check=True)
    assert (both.stdout, both.stderr) == ("out\n", "err\n")
    only_err = cli("logs", "two", "--stderr", check=True)
    assert (only_err.stdout, only_err.stderr) == ("", "err\n")


def _follow_through_a_burst(cli: CLI, job_id: str, gate: Path) -> subprocess.CompletedProcess[str]:
    """``logs --follow`` on a job whose first attempt prints a line, then waits for
    ``gate``: opened once the follower showed that line, so it saw attempt 1 begin."""
    with (
        cli.popen(
            "logs", "--follow", job_id, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as follow,
        cli.popen("worker", "start", "--burst", "--quiet") as burst,
    ):
        assert follow.stdout is not None
        first = follow.stdout.readline()
        gate.touch()
        out, err = follow.communicate(timeout=30)
        assert burst.wait(timeout=30) == 0
    return subprocess.CompletedProcess(follow.args, follow.returncode, first + out, err)


def _gated(gate: Path, command: str) -> str:
    return f'echo "out $QUEUECTL_ATTEMPT"; until [ -e {gate} ]; do sleep 0.02; done; {command}'


def test_follow_goes_on_through_retries_and_exits_0_when_the_job_completes(
    cli: CLI, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = _gated(
        gate, 'echo "err $QUEUECTL_ATTEMPT" >&2; exit $((QUEUECTL_ATTEMPT < 3 ? 5 : 0))'
    )
    _enqueue(cli, "flaky", script, max_retries=2, backoff_base=1, backoff_max=0.1)
    followed = _follow_through_a_burst(cli, "flaky", gate)
    assert followed.returncode == 0, followed
    assert followed.stdout == "out 1\nout 2\nout 3\n"
    assert followed.stderr == "err 1\n--- attempt 2 ---\nerr 2\n--- attempt 3 ---\nerr 3\n"


def test_follow_exits_with_the_last_attempts_code_when_the_job_dies(
    cli: CLI, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    _enqueue(cli, "doomed", _gated(gate, "exit 6"), max_retries=1, backoff_max=0.1)
    followed = _follow_through_a_burst(cli, "doomed", gate)
    assert followed.returncode == 6, followed
    assert followed.stdout == "out 1\nout 2\n"
    assert followed.stderr == "--- attempt 2 ---\n"
    # One attempt followed alone ends with it, and with its code.
    single = cli("logs", "--follow", "doomed", "--attempt", "1")
    assert (single.returncode, single.stdout, single.stderr) == (6, "out 1\n", "")
