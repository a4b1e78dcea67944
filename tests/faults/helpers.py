"""Helpers for fault-injection tests: waiting on conditions, reading jobs, processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from queuectl.api.queue import Queue
from queuectl.domain.models import Job, JobState
from queuectl.host.procinfo import find_processes_with_env, group_alive
from tests.conftest import CLI


async def jobs_of(cli: CLI) -> dict[str, Job]:
    async with Queue.open(cli.db, home=cli.home) as queue:
        return {job.id: job async for job in queue.jobs()}


async def job_of(cli: CLI, job_id: str) -> Job:
    async with Queue.open(cli.db, home=cli.home) as queue:
        return await queue.get(job_id)


async def state_of(cli: CLI, job_id: str) -> JobState:
    return (await job_of(cli, job_id)).state


async def has_runner(cli: CLI, pid: int) -> bool:
    async with Queue.open(cli.db, home=cli.home) as queue:
        return any(r.pid == pid for r in await queue.runners())


def lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def job_processes(cli: CLI, job_id: str) -> list[int]:
    """Live (non-zombie) processes started for ``job_id`` by runners of this test's store."""
    of_store = set(find_processes_with_env("QUEUECTL_DB", cli.db))
    return [
        pid
        for pid in find_processes_with_env("QUEUECTL_JOB_ID", job_id)
        if pid in of_store and _not_zombie(pid)
    ]


def claim_processes(job_id: str, token: int) -> list[int]:
    """Live (non-zombie) processes of one claim of a job, by any runner, on this host."""
    prefix = f"QUEUECTL_CLAIM={job_id}:{token}:".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(item.startswith(prefix) for item in environ) and _not_zombie(int(entry.name)):
                found.append(int(entry.name))
    return found


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


def kill_group_quietly(pid: int) -> None:
    with contextlib.suppress(OSError):
        pgid = os.getpgid(pid)
        if group_alive(pgid) and pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Finalizer: make sure a runner started by a test is gone."""
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
    proc.wait(timeout=30)


def peak_rss_kib(pid: int) -> int:
    """The highest resident set size a live process has had (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for pid {pid}")
