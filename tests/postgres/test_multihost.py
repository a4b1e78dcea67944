"""Runner processes on several "hosts" (QUEUECTL_HOST) sharing one PostgreSQL queue."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.config import Settings
from queuectl.domain.models import JobState
from queuectl.store.postgres.store import PostgresStore
from tests.helpers import eventually
from tests.postgres.conftest import Admin

pytestmark = pytest.mark.postgres


class Host:
    """The queuectl command as run on one named host, against one queue."""

    def __init__(self, name: str, url: str, home: Path, logs: Path) -> None:
        self.name = name
        self.env = dict(os.environ, QUEUECTL_HOME=str(home), QUEUECTL_DB=url, QUEUECTL_HOST=name)
        self.log = logs / f"runner-{name}.log"

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "queuectl", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start_runner(self, *args: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "queuectl", "worker", "start", *args],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )


@pytest.fixture
def hosts(pg_url: str, tmp_path: Path) -> dict[str, Host]:
    home = tmp_path / "home"
    home.mkdir()
    return {name: Host(name, pg_url, home, tmp_path) for name in ("a", "b", "c", "ctl")}


async def _runner_hosts(store: PostgresStore) -> list[str]:
    return sorted(r.host for r in await store.list_runners())


@pytest.mark.slow
async def test_three_hosts_run_each_job_exactly_once(
    hosts: dict[str, Host], pg_store: PostgresStore, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    ids = [f"job-{i:03}" for i in range(300)]
    lines = "".join(json.dumps({"id": i, "command": f"echo {i} >> {out}"}) + "\n" for i in ids)
    enqueued = hosts["ctl"].run("enqueue", "-", input=lines)
    assert enqueued.returncode == 0, enqueued.stderr
    runners = {name: hosts[name].start_runner("--count", "4") for name in ("a", "b", "c")}
    try:
        await eventually(lambda: _all_completed(pg_store, len(ids)), within=60)
        await eventually(lambda: _runners_are(pg_store, ["a", "b", "c"]))

        status = hosts["ctl"].run("status", "--json")
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["jobs"]["completed"] == len(ids)
        assert sorted(w["host"] for w in data["workers"]) == ["a", "b", "c"]
        text = hosts["ctl"].run("status").stdout
        assert "Worker manager running: True" in text
        assert "(host a)" in text
        assert "(host c)" in text

        local = hosts["ctl"].run("worker", "stop")
        assert local.returncode == 1
        assert "no runner is running on this host" in local.stderr
        stopped = hosts["ctl"].run("worker", "stop", "--all-hosts")
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped 3 runner(s)" in stopped.stdout
        codes = {name: proc.wait(30) for name, proc in runners.items()}
    finally:
        _end(*runners.values())
    assert codes == {"a": 0, "b": 0, "c": 0}, [hosts[n].log.read_text() for n in runners]
    assert sorted(out.read_text().split()) == ids  # each command ran exactly once
    assert {j.attempts async for j in pg_store.list_jobs()} == {1}
    assert await pg_store.list_runners() == []
    again = hosts["ctl"].run("worker", "stop", "--all-hosts")
    assert again.returncode == 1
    assert "no runner is running on any host" in again.stderr


@pytest.mark.slow
async def test_a_stalled_runner_elsewhere_is_recovered_by_lease_expiry(
    hosts: dict[str, Host], pg_store: PostgresStore, tmp_path: Path
) -> None:
    """Host a stalls (SIGSTOP) mid-job; host b takes the job over once a's lease runs
    out (a is on another host: no pid check, only the lease); a resumes and its late
    result is dropped: the record holds b's outcome."""
    assert hosts["ctl"].run("config", "set", "lease-seconds", "2").returncode == 0
    starts, ends = tmp_path / "starts.txt", tmp_path / "ends.txt"
    # a's attempt outlasts a's lease by far (b ends it); b's own attempt is quick.
    command = (
        f"echo $QUEUECTL_HOST >> {starts}; "
        f'[ "$QUEUECTL_ATTEMPT" -gt 1 ] || sleep 60; echo $QUEUECTL_HOST >> {ends}'
    )
    job = {"id": "the-job", "command": command, "max_retries": 3}
    assert hosts["ctl"].run("enqueue", json.dumps(job)).returncode == 0
    a = hosts["a"].start_runner()
    b: subprocess.Popen[bytes] | None = None
    try:
        await eventually(lambda: _file_has(starts, "a"))
        a.send_signal(signal.SIGSTOP)
        b = hosts["b"].start_runner()
        await eventually(lambda: _file_has(starts, "b"))
        await eventually(lambda: _state_is(pg_store, "the-job", JobState.COMPLETED))
        a.send_signal(signal.SIGCONT)
        await eventually(lambda: _file_has(hosts["a"].log, "dropped"))
        assert hosts["ctl"].run("worker", "stop", "--all-hosts").returncode == 0
        assert a.wait(30) == 0
        assert b.wait(30) == 0
    finally:
        a.send_signal(signal.SIGCONT)
        _end(a, b)
    record = await pg_store.get("the-job")
    assert (record.state, record.attempts, record.exit_code) == (JobState.COMPLETED, 2, 0)
    assert starts.read_text().split() == ["a", "b"]
    # On one machine b also ended a's copy of the command (same host, other name).
    assert ends.read_text().split() == ["b"]


async def test_a_runner_dropped_from_the_registry_registers_again(
    pg_url: str, pg_store: PostgresStore, admin: Admin
) -> None:
    store = await PostgresStore.open(pg_url)
    runner = Queue(store, Settings(lease_seconds=0.6, poll_interval=600)).runner()
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: _runner_count(pg_store, 1))
        await admin.execute(f'DELETE FROM "{pg_store.target.schema}".runners')
        await eventually(lambda: _runner_count(pg_store, 1))
        [entry] = await pg_store.list_runners()
        assert entry.id == runner.id
        assert pg_store.now() - entry.heartbeat_at.timestamp() < 5
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        await store.close()


async def _runner_count(store: PostgresStore, n: int) -> bool:
    return len(await store.list_runners()) == n


def _end(*procs: subprocess.Popen[bytes] | None) -> None:
    """Clean-up after a failed test: no runner outlives it."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)


async def _all_completed(store: PostgresStore, n: int) -> bool:
    counts = (await store.count_jobs()).get("default", {})
    return counts.get(JobState.COMPLETED, 0) == n


async def _runners_are(store: PostgresStore, names: list[str]) -> bool:
    return await _runner_hosts(store) == names


async def _state_is(store: PostgresStore, job_id: str, state: JobState) -> bool:
    return (await store.get(job_id)).state == state


async def _file_has(path: Path, word: str) -> bool:
    return _words(path).count(word) > 0


def _words(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
