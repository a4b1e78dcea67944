"""Inspection across hosts on PostgreSQL: cancel, follow, history; retries after lost replies.

The runners here are processes with their own host name (QUEUECTL_HOST): whatever the
CLI of host ``ctl`` learns or changes, it learns or changes through the database.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from queuectl.domain.models import JobState
from queuectl.store.base import Finish, NewJob, OutputWrite
from queuectl.store.postgres.store import PostgresStore
from tests.faults.helpers import claim_processes, lines
from tests.helpers import eventually
from tests.pgsupport import with_params
from tests.postgres.proxy import Proxy
from tests.postgres.test_multihost import Host, _end, _state_is

pytestmark = pytest.mark.postgres


@pytest.fixture
def hosts(pg_url: str, tmp_path: Path) -> dict[str, Host]:
    home = tmp_path / "home"
    home.mkdir()
    return {name: Host(name, pg_url, home, tmp_path) for name in ("a", "ctl")}


def _enqueue(host: Host, job_id: str, command: str, **fields: object) -> None:
    result = host.run("enqueue", json.dumps({"id": job_id, "command": command, **fields}))
    assert result.returncode == 0, result.stderr


async def test_cancel_stops_a_job_running_on_another_host(
    hosts: dict[str, Host], pg_store: PostgresStore, tmp_path: Path
) -> None:
    started, marker = tmp_path / "started", tmp_path / "ran-on"
    command = f"echo $$ > {started}; sleep 60; echo no >> {marker}"
    _enqueue(hosts["ctl"], "far", command, max_retries=3)
    runner = hosts["a"].start_runner("--quiet")
    try:
        await eventually(lambda: _has_pid(started))
        pid = int(started.read_text())
        result = hosts["ctl"].run("cancel", "far")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "far: cancelled (its command was stopped)\n"
        assert not _alive(pid)
        assert claim_processes("far", 1) == []  # its whole process group
        job = await pg_store.get("far")
        assert (job.state, job.attempts, job.cancel_requested) == (JobState.CANCELLED, 1, False)
        [attempt] = await pg_store.attempts("far")
        assert (attempt.host, attempt.reason, attempt.exit_code) == ("a", "cancel", None)
        assert hosts["ctl"].run("worker", "stop", "--all-hosts").returncode == 0
        assert runner.wait(30) == 0
    finally:
        _end(runner)
    assert lines(marker) == []  # not retried


async def test_logs_follow_reads_output_written_on_another_host(
    hosts: dict[str, Host], pg_store: PostgresStore
) -> None:
    runner = hosts["a"].start_runner("--quiet")
    try:
        script = 'for i in 1 2 3 4; do echo "$i $(date +%s.%N)"; sleep 0.4; done; exit 5'
        _enqueue(hosts["ctl"], "ticks", script, max_retries=0)
        delays = []
        follow = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "logs", "--follow", "ticks"],
            env=hosts["ctl"].env,
            stdout=subprocess.PIPE,
            text=True,
        )
        with follow:
            assert follow.stdout is not None
            for line in follow.stdout:
                _number, printed = line.split()
                delays.append(time.time() - float(printed))
            assert follow.wait(timeout=30) == 5
        assert len(delays) == 4
        assert max(delays) < 2.5, delays
        shown = json.loads(hosts["ctl"].run("show", "ticks", "--json").stdout)
        [attempt] = shown["attempt_history"]
        assert (attempt["host"], attempt["exit_code"], attempt["reason"]) == ("a", 5, "exit")
        assert hosts["ctl"].run("worker", "stop", "--all-hosts").returncode == 0
        assert runner.wait(30) == 0
    finally:
        _end(runner)
    assert await _state_is(pg_store, "ticks", JobState.DEAD)


async def test_lost_exchange_reply_returns_what_it_did(
    pg_url: str, proxy: Proxy, pg_store: PostgresStore
) -> None:
    """The runner's round trip commits, its reply is lost: the retry neither finishes
    nor claims twice, and the attempt history records each claim once."""
    store = await PostgresStore.open(with_params(proxy.url(pg_url), pool_size="1"))
    try:
        await pg_store.enqueue([NewJob(i, "true", 0) for i in ("a", "b", "c")])
        [a] = await pg_store.claim("r1", 1, 30)
        await store.exchange([Finish("nope", 1, JobState.COMPLETED)], "r1", 0, 30)  # prepare
        proxy.lose_next_reply()
        done = Finish("a", a.token, JobState.COMPLETED, exit_code=0)
        finished, claimed = await store.exchange([done], "r1", 5, 30)
        assert proxy.reply_lost.is_set()
        assert (finished, [j.id for j in claimed]) == ({"a"}, ["b", "c"])
        assert [(j.attempts, j.token) for j in claimed] == [(1, 1), (1, 1)]
        for job_id in ("b", "c"):
            [attempt] = await pg_store.attempts(job_id)
            assert (attempt.number, attempt.token, attempt.runner_id) == (1, 1, "r1")
        [attempt] = await pg_store.attempts("a")
        assert (attempt.exit_code, attempt.reason) == (0, "exit")
        assert attempt.ended_at is not None
    finally:
        await store.close()


async def test_lost_replies_of_output_and_cancel_change_nothing_twice(
    pg_url: str, proxy: Proxy, pg_store: PostgresStore
) -> None:
    store = await PostgresStore.open(with_params(proxy.url(pg_url), pool_size="1"))
    try:
        await pg_store.enqueue([NewJob(i, "true", 0) for i in ("run", "wait")])
        [job] = await pg_store.claim("r1", 1, 30)
        first = OutputWrite(job.id, job.token, 1, b"one\n", b"", 4)
        await store.write_output([first])  # prepares the statement
        proxy.lose_next_reply()
        await store.write_output([OutputWrite(job.id, job.token, 1, b"two\n", b"", 8)])
        assert proxy.reply_lost.is_set()
        [output] = (await pg_store.read_output(job.id, job.token)).values()
        assert (output.content(), output.total) == (b"one\ntwo\n", 8)

        await store.cancel(["nope"])  # prepares the statement
        proxy.lose_next_reply()
        assert await store.cancel(["wait"]) == {"wait": "cancelled"}
        assert proxy.reply_lost.is_set()
    finally:
        await store.close()


async def test_purge_takes_output_and_history_along(pg_store: PostgresStore) -> None:
    await pg_store.enqueue([NewJob("j", "true", 0)])
    [job] = await pg_store.claim("r", 1, 30)
    await pg_store.write_output([OutputWrite("j", job.token, 2, b"err", b"", 3)])
    await pg_store.finish([Finish("j", job.token, JobState.COMPLETED, exit_code=0)])
    assert await pg_store.finished_since(60) == 1
    assert await pg_store.purge(states=frozenset({JobState.COMPLETED})) == 1
    await pg_store.enqueue([NewJob("j", "true", 0)])  # the same id, nothing attached
    assert await pg_store.attempts("j") == []
    assert await pg_store.read_output("j", job.token) == {}
    assert await pg_store.finished_since(60) == 0


async def _has_pid(path: Path) -> bool:
    return path.exists() and path.read_text().strip().isdigit()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
