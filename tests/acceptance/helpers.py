"""The acceptance harness: the real ``queuectl`` in subprocesses, and ways to wait on it.

Tests drive the CLI as a user would and read the store only through the public API
(``Queue.open(cli.db, home=cli.home)``), so they run unchanged on every shared store.
Nothing here sleeps for a fixed time: ``wait_until`` polls for an observable condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from queuectl.api.queue import Queue
from queuectl.domain.config import Settings
from queuectl.domain.models import Job, JobState, RunnerInfo
from tests.conftest import CLI

T = TypeVar("T")

#: Generous bounds: the machine is small and shared, and a pass must not depend on luck.
WAIT = 30.0
PROC = Path("/proc")


def wait_until(predicate: Callable[[], T], what: str, timeout: float = WAIT) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Raises AssertionError naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    interval = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 2, 0.1)


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that must carry an explicit UTC offset."""
    assert text.endswith(("Z", "+00:00")), f"{text!r} has no explicit UTC offset"
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(0), text
    return moment


def read_floats(path: Path) -> list[float]:
    """The numbers a job wrote to ``path``, one per line (``date +%s.%N``)."""
    return [float(line) for line in path.read_text().split()]


def shell_path(path: Path) -> str:
    """``path`` quoted for a job's shell command."""
    return "'" + str(path).replace("'", "'\\''") + "'"


#: A shell command that prints the time (seconds since the epoch, nanoseconds).
STAMP = "date +%s.%N"


@dataclass(frozen=True)
class Gate:
    """A job command that holds until the test opens the gate, so it is surely running.

    The command touches ``started``, waits for ``release`` to exist, then touches ``done``.
    """

    directory: Path
    name: str

    @property
    def started(self) -> Path:
        return self.directory / f"{self.name}.started"

    @property
    def release(self) -> Path:
        return self.directory / f"{self.name}.release"

    @property
    def done(self) -> Path:
        return self.directory / f"{self.name}.done"

    @property
    def command(self) -> str:
        started, release, done = map(shell_path, (self.started, self.release, self.done))
        return f"touch {started}; while [ ! -e {release} ]; do sleep 0.05; done; touch {done}"

    def wait_started(self) -> None:
        wait_until(self.started.exists, f"job {self.name} to start")

    def open(self) -> None:
        self.release.touch()


def one_line(stderr: str) -> str:
    """The single line of an error message (the contract: one clear line on stderr)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    return lines[0]


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# -- processes ------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def _pids() -> list[int]:
    try:
        with os.scandir(PROC) as entries:
            return [int(entry.name) for entry in entries if entry.name.isdigit()]
    except OSError:
        return []


def group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a member that is not a zombie."""
    for pid in _pids():
        fields = _stat_fields(pid)
        if fields and len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def processes_with_env(name: str, value: str) -> list[int]:
    """Pids of processes whose environment holds ``name=value`` (jobs inherit it)."""
    needle = f"{name}={value}".encode()
    found = []
    for pid in _pids():
        with contextlib.suppress(OSError):
            if needle in (PROC / str(pid) / "environ").read_bytes().split(b"\0"):
                found.append(pid)
    return found


def kill_groups_of(pids: list[int]) -> None:
    """SIGKILL the process groups of ``pids``, never our own."""
    groups = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    groups.discard(os.getpgrp())
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)


# -- the harness ------------------------------------------------------------------------------
@dataclass
class RunnerProcess:
    """A ``queuectl worker start`` running in the background, its stderr in a file."""

    popen: subprocess.Popen[str]
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)

    def wait(self, timeout: float = WAIT) -> int:
        """Wait for the runner to exit; returns its exit code."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"runner {self.pid} still running after {timeout:g}s:\n{self.stderr()}"
            ) from None
        assert_no_traceback(self.stderr())
        return code


@dataclass
class QueueCtl:
    """One home and store, driven through the real CLI; see ``tests/acceptance``."""

    cli: CLI
    scratch: Path
    runners: list[RunnerProcess] = field(default_factory=list)
    others: list[subprocess.Popen[str]] = field(default_factory=list)

    # -- commands ---------------------------------------------------------------------
    def run(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``queuectl ARGS``; no output of any command may hold a traceback."""
        cli = (
            self.cli if env is None else dataclasses.replace(self.cli, env={**self.cli.env, **env})
        )
        result = cli(*args, input=input)
        assert_no_traceback(result.stderr)
        assert_no_traceback(result.stdout)
        return result

    def ok(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        """Run a command that must succeed; returns its stdout."""
        result = self.run(*args, input=input, env=env)
        assert result.returncode == 0, (
            f"queuectl {' '.join(args)} exited {result.returncode}: {result.stderr}"
        )
        return result.stdout

    def fails(self, code: int, *args: str, input: str | None = None) -> str:
        """Run a command that must fail with ``code``: nothing on stdout, one stderr line."""
        result = self.run(*args, input=input)
        assert result.returncode == code, (
            f"queuectl {' '.join(args)} exited {result.returncode}, not {code}: "
            f"{result.stdout}{result.stderr}"
        )
        assert result.stdout == "", result.stdout
        return one_line(result.stderr)

    def json(self, *args: str) -> Any:
        """Run a command with ``--json`` and decode what it printed."""
        return json.loads(self.ok(*args, "--json"))

    def enqueue(self, command: str, **fields: Any) -> str:
        """Enqueue one job through the CLI; returns its id."""
        job_id = self.ok("enqueue", json.dumps({"command": command, **fields})).strip()
        assert job_id
        assert "\n" not in job_id
        return job_id

    def start(self, *args: str) -> RunnerProcess:
        """Start ``queuectl worker start ARGS`` in the background; wait until it registers.

        The fixture kills whatever is still running when the test ends.
        """
        path = self.scratch / f"runner-{len(self.runners)}.stderr"
        with path.open("w") as stderr:
            popen = self.cli.popen(
                "worker",
                "start",
                *args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        runner = RunnerProcess(popen, path)
        self.runners.append(runner)
        wait_until(
            lambda: popen.poll() is not None or popen.pid in self.runner_pids(),
            f"runner {popen.pid} to register",
        )
        assert popen.poll() is None, f"runner exited early:\n{runner.stderr()}"
        return runner

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start ``queuectl ARGS`` in the background, output piped (for ``communicate``)."""
        popen = self.cli.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.others.append(popen)
        return popen

    # -- reading the store through the API ---------------------------------------------
    def _read(self, fn: Callable[[Queue], Awaitable[T]]) -> T:
        async def read() -> T:
            # Explicit settings: reading must work even when a test broke config.json.
            async with Queue.open(self.cli.db, home=self.cli.home, settings=Settings()) as queue:
                return await fn(queue)

        return asyncio.run(read())

    def jobs(self) -> list[Job]:
        async def collect(queue: Queue) -> list[Job]:
            return [job async for job in queue.jobs()]

        return self._read(collect)

    def job(self, job_id: str) -> Job:
        return self._read(lambda queue: queue.get(job_id))

    def counts(self) -> dict[JobState, int]:
        return self._read(lambda queue: queue.counts())

    def live_runners(self) -> list[RunnerInfo]:
        return self._read(lambda queue: queue.runners())

    def runner_pids(self) -> set[int]:
        return {runner.pid for runner in self.live_runners()}

    def wait_for_state(self, job_id: str, state: JobState, timeout: float = WAIT) -> Job:
        def reached() -> Job | None:
            job = self.job(job_id)
            return job if job.state == state else None

        job = wait_until(reached, f"job {job_id} to be {state.value}", timeout)
        assert job is not None
        return job

    # -- clean-up ---------------------------------------------------------------------
    def cleanup(self) -> None:
        """Kill runners still running and any command this home's jobs left behind."""
        for runner in self.runners:
            if runner.popen.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(runner.pid, signal.SIGKILL)
                runner.popen.wait()
        for popen in self.others:
            if popen.poll() is None:
                popen.kill()
            popen.wait()
            for stream in (popen.stdout, popen.stderr):
                if stream is not None:
                    stream.close()
        kill_groups_of(processes_with_env("QUEUECTL_HOME", str(self.cli.home)))


def run_queuectl(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``queuectl`` with exactly ``env`` (for tests of --home, --db and their variables)."""
    result = subprocess.run(
        [sys.executable, "-m", "queuectl", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )
    assert_no_traceback(result.stderr)
    return result
