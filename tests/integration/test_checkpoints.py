"""SQLite: a running runner copies its writes into the database file from the side.

Its own commits no longer pay for checkpoints at SQLite's default threshold (the pause
that made the tail of pick-up latency); the log stays bounded all the same.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from queuectl import JobState, Queue
from queuectl.domain.models import Job
from queuectl.store.sqlite.checkpoints import OWN_PAGES
from queuectl.store.sqlite.store import SQLiteStore
from tests.helpers import eventually, running


async def noop(job: Job) -> None:
    return None


def completed_in_database_file(path: Path, scratch: Path) -> int:
    """Completed jobs as the database file alone says, without its write-ahead log."""
    copy = scratch / "alone.db"
    shutil.copyfile(path, copy)  # no -wal beside it: only checkpointed pages count
    conn = sqlite3.connect(copy)  # its context manager commits; it does not close
    try:
        row = conn.execute("SELECT count(*) FROM jobs WHERE state = 'completed'").fetchone()
        return int(row[0])
    except sqlite3.DatabaseError:  # caught in the middle of a checkpoint: look again
        return -1
    finally:
        conn.close()
        copy.unlink()


async def autocheckpoint(queue: Queue) -> int:
    assert isinstance(queue.store, SQLiteStore)
    rows = await queue.store.db.fetch("PRAGMA wal_autocheckpoint")
    return int(rows[0][0])


async def test_a_runners_writes_reach_the_database_file_without_a_commit_copying_them(
    tmp_path: Path,
) -> None:
    path, scratch = tmp_path / "q.db", tmp_path / "scratch"
    scratch.mkdir()
    async with Queue.open(str(path)) as queue:
        await queue.enqueue_many(["true"] * 20)  # a few hundred pages: under any threshold
        async with running(queue.runner(concurrency=4)):
            await eventually(lambda: _completed(queue, 20), what="the runner completes the jobs")
            await eventually(lambda: _autocheckpoint_is(queue, OWN_PAGES), what="side checkpoints")
            await eventually(
                lambda: completed_in_database_file(path, scratch) == 20,
                within=10,
                what="the database file has the outcomes",
            )
        assert await autocheckpoint(queue) == 1000  # SQLite's default again


async def test_the_log_stays_bounded_under_a_stream_of_commits(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    # Some 8,000 pages of log, far past OWN_PAGES. No commands: outcomes come as fast as
    # the store takes them, in the largest batches (each job writes the fewest pages).
    jobs = 8000
    async with Queue.open(str(path)) as queue:
        await queue.enqueue_many(["true"] * jobs)
        await queue.runner(concurrency=16, execute=noop, burst=True).run()
        assert (await queue.counts())[JobState.COMPLETED] == jobs
        # Measured while the store is open: closing the last connection removes the log.
        # Its file keeps the largest size it reached (a reset log is written over).
        size = path.with_name(path.name + "-wal").stat().st_size
    assert 0 < size < 1.5 * OWN_PAGES * 4096, size  # a log that is reset, not one that grows


async def _completed(queue: Queue, count: int) -> bool:
    return (await queue.counts())[JobState.COMPLETED] == count


async def test_the_default_comes_back_when_the_last_runner_on_the_store_stops(
    tmp_path: Path,
) -> None:
    async with Queue.open(str(tmp_path / "q.db")) as queue:
        async with running(queue.runner(execute=noop)) as first:
            async with running(queue.runner(execute=noop)):
                await eventually(
                    lambda: _autocheckpoint_is(queue, OWN_PAGES), what="both runners hold"
                )
            # The second runner stopped; the first still checkpoints from the side.
            assert await autocheckpoint(queue) == OWN_PAGES
            assert not first.done()
        assert await autocheckpoint(queue) == 1000


async def _autocheckpoint_is(queue: Queue, pages: int) -> bool:
    return await autocheckpoint(queue) == pages
