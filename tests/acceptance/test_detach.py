"""``worker start --detach``: a runner in the background, like any other runner."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
from pathlib import Path

from tests.conftest import CLI
from tests.faults.helpers import has_runner
from tests.helpers import eventually


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_a_detached_runner_runs_in_its_own_session_and_stops_like_any(cli: CLI) -> None:
    started = cli("worker", "start", "--detach", "--count", "2", timeout=60)
    assert started.returncode == 0, started.stderr
    words = started.stdout.split()
    assert started.stdout.startswith("runner started: pid ")
    pid = int(words[3].rstrip(","))
    log = Path(words[5])
    try:
        # Registered before the command returned, so status sees it at once.
        assert await has_runner(cli, pid)
        assert f"manager pid: {pid}\n" in cli("status", check=True).stdout
        assert log == cli.home / "logs" / f"runner-{pid}.log"
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert os.getsid(pid) == pid  # a session of its own: no terminal, no SIGHUP
        assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
        cli("enqueue", json.dumps({"id": "bg", "command": "echo hi"}), check=True)
        done = cli("wait", "bg", "--timeout", "30")
        assert done.returncode == 0, done.stderr
        stopped = cli("worker", "stop", timeout=60)
        assert stopped.stdout == f"stopped 1 runner(s): pid {pid}\n", stopped.stderr
        await eventually(lambda: not _alive(pid), what="the runner to exit")
        text = log.read_text()
        assert "  bg  completed  " in text
        assert "runner stopped: 1 completed" in text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_detached_burst_that_ends_at_once_is_not_an_error(cli: CLI) -> None:
    started = cli("worker", "start", "-d", "--burst", timeout=60)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("runner started: pid ")
