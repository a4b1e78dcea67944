"""How users start queuectl: the console script, ``--help``, and the demo script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.acceptance.helpers import QueueCtl, assert_no_traceback

SCRIPT = Path(sys.executable).with_name("queuectl")
DEMO = Path(__file__).parents[2] / "examples" / "demo.sh"
COMMANDS = [
    "add",
    "cancel",
    "completion",
    "config",
    "dlq",
    "enqueue",
    "list",
    "logs",
    "purge",
    "queue",
    "retry",
    "rm",
    "schedule",
    "show",
    "status",
    "wait",
    "web",
    "worker",
]


def test_console_script_runs_the_same_cli(qctl: QueueCtl) -> None:
    result = subprocess.run(
        [str(SCRIPT), "enqueue", '{"id": "via-script", "command": "true"}'],
        capture_output=True,
        text=True,
        env=qctl.cli.env,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "via-script\n"
    assert [job.id for job in qctl.jobs()] == ["via-script"]


def test_help_lists_every_command(qctl: QueueCtl) -> None:
    out = qctl.ok("--help")

    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == COMMANDS


def test_demo_script_runs_the_seed_flow_and_removes_its_home(
    qctl: QueueCtl, tmp_path: Path
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**qctl.cli.env, "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}"}
    del env["QUEUECTL_HOME"]  # the demo makes its own, in TMPDIR (the store stays ours)
    env["TMPDIR"] = str(temporary)

    result = subprocess.run(
        ["bash", str(DEMO)], capture_output=True, text=True, env=env, timeout=120
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert list(temporary.iterdir()) == []
    assert_no_traceback(result.stdout + result.stderr)
    out = result.stdout
    assert "  completed: 4\n  failed: 0\n  dead: 2\n" in out
    assert "always-fails: 3 attempts, last error: 'exit code 3\\ndisk is on fire'" in out
    assert "disk is on fire\n" in out  # from `logs --stderr`
    assert "always-fails is pending again (attempts reset)" in out
