"""Connection faults: lost replies, an outage, connections killed under load.

Each test ends by checking the books: every job completed exactly once (the commands
record themselves), every attempt counted once, nothing left processing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.config import Settings
from queuectl.domain.models import JobState
from queuectl.store.base import Finish, NewJob
from queuectl.store.postgres.store import PostgresStore
from tests.helpers import eventually
from tests.pgsupport import with_params
from tests.postgres.conftest import Admin, backends, terminate
from tests.postgres.proxy import Proxy

pytestmark = pytest.mark.postgres


def job(job_id: str, command: str = "true") -> NewJob:
    return NewJob(id=job_id, command=command, max_retries=0)


async def test_lost_claim_reply_returns_the_claimed_jobs(
    pg_url: str, proxy: Proxy, pg_store: PostgresStore
) -> None:
    store = await PostgresStore.open(with_params(proxy.url(pg_url), pool_size="1"))
    try:
        assert await store.claim("r1", 5, 30) == []  # prepares the statement
        await pg_store.enqueue([job("a"), job("b")])
        proxy.lose_next_reply()
        claimed = await store.claim("r1", 5, 30)
        assert proxy.reply_lost.is_set()
        # The first try committed; the retry found its own claim instead of losing it.
        assert [j.id for j in claimed] == ["a", "b"]
        for j in claimed:
            row = await pg_store.get(j.id)
            assert (row.state, row.attempts, row.token, row.runner_id) == (
                JobState.PROCESSING,
                1,
                1,
                "r1",
            )
    finally:
        await store.close()


async def test_lost_finish_reply_reports_the_finish_applied(
    pg_url: str, proxy: Proxy, pg_store: PostgresStore
) -> None:
    store = await PostgresStore.open(with_params(proxy.url(pg_url), pool_size="1"))
    try:
        await pg_store.enqueue([job("a")])
        [claimed] = await pg_store.claim("r1", 1, 30)
        assert await store.finish([Finish("nope", 1, JobState.COMPLETED)]) == set()  # prepare
        proxy.lose_next_reply()
        applied = await store.finish([Finish("a", claimed.token, JobState.COMPLETED, exit_code=0)])
        assert proxy.reply_lost.is_set()
        assert applied == {"a"}
        assert (await pg_store.get("a")).state == JobState.COMPLETED
    finally:
        await store.close()


async def test_lost_enqueue_reply_is_not_a_duplicate(
    pg_url: str, proxy: Proxy, pg_store: PostgresStore
) -> None:
    store = await PostgresStore.open(with_params(proxy.url(pg_url), pool_size="1"))
    try:
        await store.enqueue([job("warm-up")])  # prepares the statement
        proxy.lose_next_reply()
        await store.enqueue([job("a"), job("b")])
        assert proxy.reply_lost.is_set()
        assert [j.id async for j in pg_store.list_jobs()] == ["warm-up", "a", "b"]
    finally:
        await store.close()


async def test_outage_mid_run_loses_and_repeats_nothing(
    pg_url: str, proxy: Proxy, pg_store: PostgresStore, tmp_path: Path
) -> None:
    """The server "restarts" (every connection dropped, new ones refused) mid-run.

    Commands running at that moment carry on; their outcomes are recorded once the
    server is back, by their own runner, each exactly once.
    """
    started, out = tmp_path / "started.txt", tmp_path / "out.txt"
    ids = [f"j{i:02}" for i in range(16)]
    command = f"echo {{id}} >> {started}; sleep 0.5; echo {{id}} >> {out}"
    await pg_store.enqueue([job(i, command.format(id=i)) for i in ids])
    store = await PostgresStore.open(proxy.url(pg_url))
    settings = Settings(lease_seconds=20, poll_interval=600, backoff_base=1)
    runner = Queue(store, settings).runner(concurrency=4)
    task = asyncio.create_task(runner.run())
    try:
        # Mid-run: the second batch of commands has started and not finished.
        await eventually(lambda: _lines_at_least(started, 5))
        async with proxy.outage():
            running = len(_lines(started))
            assert len(_lines(out)) < running
            # The outage lasts until the commands that were running have finished.
            await eventually(lambda: _lines_at_least(out, running))
        await eventually(lambda: _all_completed(pg_store, len(ids)))
    finally:
        runner.stop()
        stats = await asyncio.wait_for(task, 30)
        await store.close()
    assert sorted(_lines(out)) == ids  # each command ran exactly once
    assert stats.completed == len(ids)  # and its runner recorded every outcome itself
    assert {j.attempts async for j in pg_store.list_jobs()} == {1}


async def test_listener_catches_up_after_an_outage(
    pg_url: str, proxy: Proxy, pg_store: PostgresStore
) -> None:
    """A job announced while the listener was cut off starts once it is back.

    The fallback poll is 10 minutes: only the wake-up fired on reconnect can start it.
    """
    store = await PostgresStore.open(proxy.url(pg_url))
    started = asyncio.Event()

    async def execute(_: object) -> None:
        started.set()

    queue = Queue(store, Settings(poll_interval=600))
    runner = queue.runner(execute=execute)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: _registered(pg_store, runner.id))
        async with proxy.outage():
            await pg_store.enqueue([job("missed")])  # its notification reaches nobody
        await asyncio.wait_for(started.wait(), 15)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        await store.close()
    assert (await pg_store.get("missed")).state == JobState.COMPLETED


async def test_killed_listener_reconnects_and_listens(
    pg_url: str, pg_store: PostgresStore, admin: Admin, schema: str
) -> None:
    store = await PostgresStore.open(pg_url)
    started = asyncio.Event()

    async def execute(_: object) -> None:
        started.set()

    runner = Queue(store, Settings(poll_interval=600)).runner(execute=execute)
    task = asyncio.create_task(runner.run())
    listener = f"{schema} listener"
    try:
        await eventually(lambda: _registered(pg_store, runner.id))
        [old] = await backends(admin, listener)
        await terminate(admin, listener)
        await eventually(lambda: _new_backend(admin, listener, old))
        await pg_store.enqueue([job("after")])
        await asyncio.wait_for(started.wait(), 5)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        await store.close()


@pytest.mark.slow
async def test_three_hosts_with_connections_killed_mid_run(
    pg_url: str, pg_store: PostgresStore, admin: Admin, schema: str, tmp_path: Path
) -> None:
    """pg_terminate_backend on the runners' pool and listener connections, over and over."""
    out = tmp_path / "out.txt"
    ids = [f"job-{i:03}" for i in range(200)]
    await pg_store.enqueue([job(i, f"echo {i} >> {out}") for i in ids])
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.json").write_text('{"lease_seconds": 20, "poll_interval": 1}')
    runners = [_start_runner(pg_url, home, host, tmp_path) for host in ("a", "b", "c")]
    kills = 0
    try:
        while not await _all_completed(pg_store, len(ids)):
            kills += await terminate(admin, schema)
            if kills % 3 == 0:
                kills += await terminate(admin, f"{schema} listener")
            await asyncio.sleep(0.1)
        assert kills > 10
        counts = await pg_store.count_jobs()
        assert counts["default"][JobState.COMPLETED] == len(ids)
    finally:
        for proc, _ in runners:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(30) for proc, _ in runners]
    logs = [log.read_text() for _, log in runners]
    assert codes == [0, 0, 0], logs
    assert not any("Traceback" in log for log in logs), logs
    assert sorted(_lines(out)) == ids
    assert {j.attempts async for j in pg_store.list_jobs()} == {1}
    assert await pg_store.list_runners() == []


def _start_runner(
    url: str, home: Path, host: str, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"runner-{host}.log"
    env = dict(os.environ, QUEUECTL_HOME=str(home), QUEUECTL_DB=url, QUEUECTL_HOST=host)
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "queuectl", "worker", "start", "--count", "4"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return path.read_text().split()


async def _lines_at_least(path: Path, n: int) -> bool:
    return len(_lines(path)) >= n


async def _all_completed(store: PostgresStore, n: int) -> bool:
    counts = (await store.count_jobs()).get("default", {})
    return counts.get(JobState.COMPLETED, 0) == n


async def _registered(store: PostgresStore, runner_id: str) -> bool:
    return any(r.id == runner_id for r in await store.list_runners())


async def _new_backend(admin: Admin, application_name: str, old: int) -> bool:
    pids = await backends(admin, application_name)
    return bool(pids) and old not in pids
