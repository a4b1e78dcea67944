"""A full disk while jobs print: the outcomes are recorded, the lost output is marked."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.faults.test_files import _env_for, _run, small_fs

__all__ = ["small_fs"]

pytestmark = pytest.mark.parametrize("shared_store_kind", ["sqlite"], indirect=True)


def _fill(fs: Path, leave: int) -> None:
    """Fill ``fs`` up to the last ``leave`` bytes."""
    with open(fs / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 4096)
    with open(fs / "filler", "r+b") as filler:
        filler.truncate(max(0, (fs / "filler").stat().st_size - leave))


def test_output_lost_to_a_full_disk_is_marked_and_the_outcome_kept(
    cli: CLI, small_fs: Path
) -> None:
    env = _env_for(cli, small_fs / "home")
    # Output flushed twice while it runs (both flushes fail), then with its outcome.
    half = "head -c 2000000 /dev/zero | tr '\\0' x"
    big = f"{half}; sleep 1.2; {half}; echo done >&2"
    spec = json.dumps({"id": "big", "command": big, "max_retries": 0})
    assert _run(env, "enqueue", spec).returncode == 0
    _fill(small_fs, 96 * 1024)
    runner = _run(env, "worker", "start", "--burst", "--count", "1")
    (small_fs / "filler").unlink()
    assert runner.returncode == 0, runner.stderr
    warnings = [line for line in runner.stderr.splitlines() if "output not kept" in line]
    assert len(warnings) == 1, runner.stderr
    assert "job big" in warnings[0]
    assert "disk full" in warnings[0]
    (line,) = [line for line in runner.stderr.splitlines() if "  big  completed  " in line]

    shown = json.loads(_run(env, "show", "big", "--json").stdout)
    assert shown["state"] == "completed"
    (attempt,) = shown["attempt_history"]
    assert attempt["output_lost"] == "disk full"
    # The runner's line and the record agree on how long the attempt took.
    assert abs(float(line.split()[3].removesuffix("s")) - attempt["duration"]) < 0.5, line
    assert "attempt #1 not all kept (disk full)" in _run(env, "show", "big").stdout
    logs = _run(env, "logs", "big")
    assert logs.returncode == 0
    assert "bytes not kept: disk full …]" in logs.stdout
    kept = logs.stdout.count("x")
    (marked,) = [line for line in logs.stdout.splitlines() if "not kept" in line]
    assert kept + int(marked.split()[1]) == 4_000_000
    assert _run(env, "logs", "big", "--stderr").stderr.endswith("not kept: disk full …]\n")
