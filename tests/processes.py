"""Runner processes started by tests, and their clean-up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.faults.helpers import stop_process


@dataclass
class Runners:
    """Starts `queuectl worker start` processes and makes sure they are gone afterwards."""

    cli: CLI
    logs: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        log = (self.logs / f"runner-{len(self.procs)}.log").open("w")
        proc: subprocess.Popen[str] = subprocess.Popen(
            [*self._command(), "worker", "start", *args],
            env=env or self.cli.env,
            text=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, proc: subprocess.Popen[str]) -> str:
        return (self.logs / f"runner-{self.procs.index(proc)}.log").read_text()

    @staticmethod
    def _command() -> list[str]:
        return [sys.executable, "-m", "queuectl"]


@pytest.fixture
def runners(cli: CLI, tmp_path: Path) -> Iterator[Runners]:
    logs = tmp_path / "runner-logs"
    logs.mkdir()
    started = Runners(cli, logs)
    yield started
    for proc in started.procs:
        stop_process(proc)
