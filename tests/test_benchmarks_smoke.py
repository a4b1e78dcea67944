"""The benchmark harness still runs: a few benchmarks at tiny sizes print their table.

Benchmarks are never part of the test suite; this only checks that ``python -m
benchmarks`` works end to end (figures at these sizes mean nothing).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TINY = [
    "--only=dispatch,sleep,overhead,depth,enqueue,status,metrics",
    "--size=dispatch.jobs=20",
    "--size=dispatch.counts=2",
    "--size=dispatch.floor_jobs=20",
    "--size=dispatch.methods=uvloop-threads,sync-vfork-epoll",
    "--size=sleep.jobs=4",
    "--size=overhead.jobs=50",
    "--size=overhead.counts=4",
    "--size=depth.history=200",
    "--size=depth.jobs=50",
    "--size=depth.count=4",
    "--size=enqueue.runs=1",
    "--size=enqueue.bulk=20",
    "--size=status.jobs=100",
    "--size=status.runs=1",
    "--size=metrics.jobs=100",
    "--size=metrics.runs=1",
    "--size=enqueue.file=30",
]


def test_benchmarks_print_their_table(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quiet", "--tmp", str(tmp_path), *TINY],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("benchmark"))
    assert header.split()[:5] == ["benchmark", "case", "figure", "floor", "ratio"]
    for name in ("dispatch", "sleep", "overhead", "depth", "enqueue", "status", "metrics"):
        assert any(line.startswith(name + " ") for line in lines), name
    assert "spawn methods" in result.stdout
    # The ratio's floor is the screen's best, run again beside each worker run.
    assert "alternating with the worker's" in result.stdout
    if sys.platform == "linux" and (3, 11) <= sys.version_info[:2] <= (3, 13):
        (vfork_row,) = [line for line in lines if line.startswith("sync-vfork-epoll ")]
        assert "n/a" not in vfork_row, vfork_row  # subprocess's vfork helper works here
    # Where the runner's CPU went: read from /proc on Linux, "n/a" elsewhere.
    (cpu_row,) = [line for line in lines if line.startswith("queuectl worker, --count 2")]
    assert sys.platform != "linux" or "n/a" not in cpu_row, cpu_row
    # The reference runner (benchmarks/reference.py) ran beside the worker in both, and
    # in dispatch on queuectl's own schema too.
    if hasattr(os, "pidfd_open"):
        references = [
            line.split()[0]
            for line in lines
            if not line.startswith(" ") and "reference runner:" in line
        ]
        assert references == ["dispatch", "sleep"], references
        on_schema = [
            line.split()[0]
            for line in lines
            if not line.startswith(" ") and "reference runner on queuectl's schema:" in line
        ]
        assert on_schema == ["dispatch"], on_schema
    assert any("first claim to last outcome" in line for line in lines)
    # And sleep-bound's commands with no queue at all: the most a runner could reach.
    assert any(line.startswith("sleep ") and "no queue:" in line for line in lines)
    assert "goals met:" in result.stdout
    assert not list(tmp_path.iterdir()), "temporary homes were left behind"
