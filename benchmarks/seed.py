"""Building stores fast: queuectl creates the schema, sqlite3 fills it in one statement."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

__all__ = [
    "DB_FILE",
    "add_history",
    "add_pending",
    "busy_span_via_api",
    "copy_store",
    "counts_via_api",
    "create_store",
    "enqueue_via_api",
    "insert_rows",
    "state_counts",
]

DB_FILE = "queuectl.db"

# Rows shaped like the ones queuectl inserts (uuid4-like hex ids, defaults as enqueue sets them).
_PENDING = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, command, state, max_retries, priority, queue, timeout, run_at,
                  created_at, updated_at)
SELECT lower(hex(randomblob(16))), :command, 'pending', 3, 0, 'default', NULL,
       :now, :now, :now
FROM n
"""

_HISTORY = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, command, state, attempts, max_retries, priority, queue, run_at,
                  created_at, updated_at, started_at, finished_at, exit_code, token)
SELECT lower(hex(randomblob(16))), 'true', 'completed', 1, 3, 0, 'default',
       :now - :count + i, :now - :count + i, :now - :count + i,
       :now - :count + i, :now - :count + i, 0, 1
FROM n
"""


def create_store(home: Path) -> Path:
    """An empty store in ``home``, created by queuectl itself so the schema is its own."""
    import asyncio

    from queuectl.store import open_store

    path = home / DB_FILE

    async def create() -> None:
        store = await open_store(str(path))
        await store.close()

    asyncio.run(create())
    return path


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def add_pending(path: Path, count: int, command: str = "true") -> None:
    if count <= 0:
        return
    conn = _connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_PENDING, {"count": count, "command": command, "now": time.time()})
        conn.execute("COMMIT")
    finally:
        conn.close()


def add_history(path: Path, count: int) -> None:
    """``count`` completed jobs, as a long-lived queue accumulates them."""
    if count > 0:
        insert_rows(path, _HISTORY, {"count": count, "now": time.time()})


def insert_rows(path: Path, statement: str, params: dict[str, object]) -> None:
    """Run one INSERT in its own transaction, then checkpoint the log away."""
    conn = _connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(statement, params)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def copy_store(template: Path, home: Path) -> Path:
    """A copy of a closed store (its WAL checkpointed away) in another home."""
    target = home / DB_FILE
    shutil.copyfile(template, target)
    wal = template.with_name(template.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))
    return target


def state_counts(path: Path) -> dict[str, int]:
    conn = _connect(path)
    try:
        return dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    finally:
        conn.close()


def enqueue_via_api(home: Path, db: str | None, count: int, command: str) -> None:
    """``count`` jobs through queuectl's own API (any store), in one transaction."""
    import asyncio

    from queuectl.api.queue import Queue

    async def enqueue() -> None:
        async with Queue.open(db, home=home) as queue:
            for start in range(0, count, 10_000):
                await queue.enqueue_many([command] * min(10_000, count - start))

    asyncio.run(enqueue())


def counts_via_api(home: Path, db: str | None) -> dict[str, int]:
    import asyncio

    from queuectl.api.queue import Queue

    async def counts() -> dict[str, int]:
        async with Queue.open(db, home=home) as queue:
            return {state.value: n for state, n in (await queue.counts()).items()}

    return asyncio.run(counts())


def busy_span_via_api(home: Path, db: str | None) -> float:
    """Seconds from the first claim to the last recorded outcome of the completed jobs.

    Both ends are the runner's own timestamps: its start-up and exit are outside.
    """
    import asyncio

    from queuectl.api.queue import Queue
    from queuectl.domain.models import JobState

    async def span() -> float:
        first = last = None
        async with Queue.open(db, home=home) as queue:
            async for job in queue.jobs(state=JobState.COMPLETED):
                assert job.started_at is not None
                assert job.finished_at is not None
                if first is None or job.started_at < first:
                    first = job.started_at
                if last is None or job.finished_at > last:
                    last = job.finished_at
        if first is None or last is None:
            raise ValueError("no completed jobs")
        return (last - first).total_seconds()

    return asyncio.run(span())
