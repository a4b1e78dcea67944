"""LISTEN/NOTIFY wake-ups: idle runners react to new jobs and stop requests at once.

The fallback poll is set to 10 minutes and leases to 30 s (a heartbeat every 10 s), so
only a notification can explain a reaction within the bounds asserted here.
"""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.config import Settings
from queuectl.domain.models import Job
from queuectl.store.base import NewJob
from queuectl.store.postgres.store import PostgresStore
from tests.helpers import eventually

#: Latency bounds: run alone, not beside a test that keeps the other cores busy.
pytestmark = [pytest.mark.postgres, pytest.mark.serial]

#: Generous: the pick-up takes milliseconds; a missed notification would take 600 s.
BOUND = 3.0


def _runner_process(url: str, home: Path, host: str, log: Path) -> subprocess.Popen[bytes]:
    (home / "config.json").write_text('{"poll_interval": 600, "lease_seconds": 30}')
    env = dict(os.environ, QUEUECTL_HOME=str(home), QUEUECTL_DB=url, QUEUECTL_HOST=host)
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "queuectl", "worker", "start"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def _registered(store: PostgresStore, n: int) -> bool:
    return len(await store.list_runners()) == n


async def test_idle_runner_process_picks_up_new_jobs_by_notification(
    pg_url: str, pg_store: PostgresStore, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    runner = _runner_process(pg_url, home, "worker-host", tmp_path / "runner.log")
    latencies = []
    try:
        await eventually(lambda: _registered(pg_store, 1))
        for n in range(5):
            mark = tmp_path / f"started-{n}"
            before = time.time()
            await pg_store.enqueue([NewJob(f"j{n}", f"date +%s.%N > {mark}", max_retries=0)])
            await eventually(functools.partial(_has_text, mark), within=BOUND, every=0.005)
            latencies.append(float(mark.read_text()) - before)
    finally:
        runner.terminate()
        assert runner.wait(30) == 0
    print(f"pick-up latency across processes: median {statistics.median(latencies) * 1000:.1f} ms")
    assert max(latencies) < BOUND


async def _has_text(path: Path) -> bool:
    return bool(_text(path).strip())


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def test_in_process_pick_up_latency(pg_url: str, pg_store: PostgresStore) -> None:
    """The same through the embedding API, timed inside the runner's own loop."""
    store = await PostgresStore.open(pg_url)
    started: asyncio.Queue[float] = asyncio.Queue()

    async def execute(job: Job) -> None:
        started.put_nowait(time.monotonic())

    runner = Queue(store, Settings(poll_interval=600)).runner(execute=execute)
    task = asyncio.create_task(runner.run())
    latencies = []
    try:
        await eventually(lambda: _registered(pg_store, 1))
        for n in range(20):
            before = time.monotonic()
            await pg_store.enqueue([NewJob(f"j{n}", "true", max_retries=0)])
            latencies.append(await asyncio.wait_for(started.get(), BOUND) - before)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        await store.close()
    print(f"pick-up latency in process: median {statistics.median(latencies) * 1000:.1f} ms")
    assert max(latencies) < BOUND


async def test_stop_all_hosts_reaches_an_idle_runner_at_once(
    pg_url: str, pg_store: PostgresStore, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    runner = _runner_process(pg_url, home, "far-away", tmp_path / "runner.log")
    try:
        await eventually(lambda: _registered(pg_store, 1))
        queue = Queue(pg_store, Settings(lease_seconds=30))
        began = time.monotonic()
        stopped = await asyncio.wait_for(queue.stop_runners(all_hosts=True), BOUND)
        assert [r.host for r in stopped] == ["far-away"]
        assert time.monotonic() - began < BOUND
        assert runner.wait(30) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(30)
