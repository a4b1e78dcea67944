"""The SQLite store (aiosqlite): the embedded default, one machine, zero set-up.

One connection per store. aiosqlite serialises calls on it through one thread, so
transactions are guarded by a lock, and the hot paths (claim, finish) are single
statements: one hop to the thread, atomic without an explicit transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from queuectl.errors import DuplicateJob, InvalidState, JobNotFound, StoreError
from queuectl.models import Job, JobState, RunnerInfo
from queuectl.store import sqlite_sql as sql
from queuectl.store.base import Finish, Heartbeat, NewJob, Subscription, WakeKind
from queuectl.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from queuectl.wakeup import WakeListener, send_wakes

__all__ = ["SQLiteStore"]

T = TypeVar("T")
Conn = aiosqlite.Connection

_PAGE = 500
_BUSY_TIMEOUT_MS = 30_000


def _explain(path: Path, exc: sqlite3.Error) -> StoreError:
    message = str(exc)
    lowered = message.lower()
    if "not a database" in lowered or "malformed" in lowered:
        text = f"{path} is not a usable queuectl database ({message}); move it aside"
    elif "readonly" in lowered or "read-only" in lowered:
        text = f"{path} is read-only ({message})"
    elif "full" in lowered or ("i/o error" in lowered and _disk_nearly_full(path)):
        text = f"the disk holding {path} is full ({message}); nothing was changed"
    elif "locked" in lowered or "busy" in lowered:
        text = f"{path} stayed locked by another process for too long ({message})"
    elif "unable to open" in lowered:
        text = f"cannot open {path} ({message})"
    else:
        text = f"{path}: {message}"
    return StoreError(text)


def _disk_nearly_full(path: Path) -> bool:
    # SQLite reports a failed write to a full disk as a plain I/O error.
    try:
        return shutil.disk_usage(path.parent).free < 1024 * 1024
    except OSError:
        return False


class SQLiteStore:
    """A Store on one SQLite file, in WAL mode."""

    def __init__(self, conn: Conn, path: Path, clock: Callable[[], float]) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, clock: Callable[[], float] = time.time) -> SQLiteStore:
        if sqlite3.sqlite_version_info < (3, 35):
            raise StoreError(f"queuectl needs SQLite 3.35 or newer, found {sqlite3.sqlite_version}")
        _create_private(path)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _explain(path, exc) from None
        store = cls(conn, path, clock)
        try:
            await store._call(store._prepare, retry=False)
        except BaseException:
            await conn.close()
            raise
        return store

    async def _prepare(self, conn: Conn) -> None:
        # Off: the deps_cancel trigger cancels a whole chain itself; fired again for
        # each job it cancels, it would recurse as deep as the chain.
        await conn.executescript(
            f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}; PRAGMA synchronous = NORMAL; "
            "PRAGMA foreign_keys = ON; PRAGMA recursive_triggers = OFF;"
        )
        version = await self._user_version(conn)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer queuectl (schema version {version}; "
                f"this one knows up to {SCHEMA_VERSION}): upgrade queuectl"
            )
        if version == 0:
            rows = await conn.execute_fetchall("SELECT count(*) FROM sqlite_master")
            if next(iter(rows))[0]:
                raise StoreError(f"{self.path} is an SQLite database but not a queuectl one")
        rows = await conn.execute_fetchall("PRAGMA journal_mode")
        if next(iter(rows))[0] != "wal":
            await conn.execute("PRAGMA journal_mode = WAL")
        if version < SCHEMA_VERSION:
            await self._migrate(conn)

    @staticmethod
    async def _user_version(conn: Conn) -> int:
        rows = await conn.execute_fetchall("PRAGMA user_version")
        return int(next(iter(rows))[0])

    async def _migrate(self, conn: Conn) -> None:
        # BEGIN IMMEDIATE takes the write lock, so runners starting together migrate once.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            version = await self._user_version(conn)
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise

    def now(self) -> float:
        return self._clock()

    async def close(self) -> None:
        await self._conn.close()

    async def _call(self, fn: Callable[[Conn], Awaitable[T]], *, retry: bool = True) -> T:
        """Run ``fn`` alone on the connection, mapping SQLite errors to StoreError.

        SQLITE_BUSY can outlast the busy timeout under heavy contention; ``fn`` is one
        statement or a whole transaction, so it is safe to run again.
        """
        delay = 0.05
        async with self._lock:
            for attempt in range(6):
                try:
                    return await fn(self._conn)
                except sqlite3.OperationalError as exc:
                    await self._rollback()
                    busy = "locked" in str(exc) or "busy" in str(exc)
                    if not (retry and busy) or attempt == 5:
                        raise _explain(self.path, exc) from None
                except sqlite3.IntegrityError:
                    await self._rollback()
                    raise
                except sqlite3.Error as exc:
                    await self._rollback()
                    raise _explain(self.path, exc) from None
                except BaseException:
                    await self._rollback()
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                await self._conn.rollback()

    async def _fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        async def run(conn: Conn) -> list[Any]:
            return list(await conn.execute_fetchall(sql, params))

        return await self._call(run)

    # -- jobs ---------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob]) -> None:
        now = self.now()
        rows = [
            (
                j.id,
                j.command,
                j.max_retries,
                j.priority,
                j.queue,
                j.timeout,
                now + j.delay if j.run_at is None else j.run_at,
                now,
                now,
                ",".join(j.after) or None,
                j.backoff_base,
                j.backoff_max,
                j.backoff_jitter,
            )
            for j in jobs
        ]
        waiting = [j for j in jobs if j.after]

        async def insert(conn: Conn) -> None:
            if len(rows) == 1 and not waiting:
                await conn.execute(sql.INSERT, rows[0])
                return
            await conn.execute("BEGIN IMMEDIATE")
            await conn.executemany(sql.INSERT, rows)
            if waiting:
                await self._link_dependencies(conn, waiting)
            await conn.commit()

        try:
            await self._call(insert)
        except sqlite3.IntegrityError:
            raise await self._duplicate([j.id for j in jobs]) from None
        await self.notify("jobs")

    @staticmethod
    async def _link_dependencies(conn: Conn, waiting: list[NewJob]) -> None:
        """Record who waits for whom and count unfinished dependencies (in the txn)."""
        deps = json.dumps(sorted({d for j in waiting for d in j.after}))
        missing = list(await conn.execute_fetchall(sql.MISSING_DEPS, (deps,)))
        if missing:
            raise JobNotFound(missing[0][0])
        ended = list(await conn.execute_fetchall(sql.ENDED_DEPS, (deps,)))
        if ended:
            dep_id, state = ended[0]
            raise InvalidState(f"job {dep_id!r} is {state}: a job after it would never run")
        await conn.executemany(sql.LINK_DEPS, [(j.id, d) for j in waiting for d in j.after])
        await conn.execute(sql.COUNT_BLOCKED, (json.dumps([j.id for j in waiting]),))

    async def _duplicate(self, ids: list[str]) -> DuplicateJob:
        for start in range(0, len(ids), 10_000):
            chunk = json.dumps(ids[start : start + 10_000])
            rows = await self._fetch(
                "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?)) LIMIT 1",
                (chunk,),
            )
            if rows:
                return DuplicateJob(rows[0][0])
        # No id existed: the batch itself repeats one; name that one, not the first.
        seen: set[str] = set()
        for job_id in ids:
            if job_id in seen:
                return DuplicateJob(job_id, "it appears twice in this batch")
            seen.add(job_id)
        return DuplicateJob(ids[0], "the store refused it as a duplicate")

    async def get(self, job_id: str) -> Job:
        rows = await self._fetch(f"SELECT {sql.JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFound(job_id)
        return sql.job_from_row(rows[0])

    async def list_jobs(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Job]:
        where = ("" if state is None else " AND state = :state") + (
            "" if queue is None else " AND queue = :queue"
        )
        query = (
            f"SELECT seq, {sql.JOB_COLUMNS} FROM jobs WHERE seq > :after{where} "
            "ORDER BY seq LIMIT :page"
        )
        after, left = 0, limit
        while left is None or left > 0:
            page = _PAGE if left is None else min(_PAGE, left)
            params = {"after": after, "state": state, "queue": queue, "page": page}
            rows = await self._fetch(query, params)
            for row in rows:
                yield sql.job_from_row(row[1:])
            if len(rows) < page:
                return
            after = rows[-1][0]
            if left is not None:
                left -= len(rows)

    async def count_jobs(self) -> dict[str, dict[JobState, int]]:
        rows = await self._fetch("SELECT queue, state, count(*) FROM jobs GROUP BY queue, state")
        counts: dict[str, dict[JobState, int]] = {}
        for queue, state, n in rows:
            counts.setdefault(queue, dict.fromkeys(JobState, 0))[JobState(state)] = n
        return counts

    async def next_run_at(
        self, *, states: frozenset[JobState], queues: Sequence[str] | None = None
    ) -> float | None:
        params: list[Any] = [s.value for s in states]
        where = f"state IN ({', '.join('?' * len(states))}) AND blocked = 0"
        if queues:
            where += f" AND queue IN ({', '.join('?' * len(queues))})"
            params += list(queues)
        rows = await self._fetch(f"SELECT min(run_at) FROM jobs WHERE {where}", params)
        return None if not rows else rows[0][0]

    async def claim(
        self,
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
    ) -> list[Job]:
        params: dict[str, Any] = {
            "runner": runner_id,
            "now": self.now(),
            "lease": lease_seconds,
            "limit": limit,
        }
        names = list(dict.fromkeys(queues or ()))
        params.update({f"q{i}": name for i, name in enumerate(names)})
        rows = await self._fetch(sql.claim_sql(len(names)), params)
        return [sql.job_from_row(row) for row in rows]

    async def finish(self, finishes: Sequence[Finish]) -> set[str]:
        batch = json.dumps(
            [
                [
                    f.job_id,
                    f.token,
                    f.state.value,
                    f.delay,
                    int(f.counted),
                    f.exit_code,
                    f.last_error,
                ]
                for f in finishes
            ]
        )
        rows = await self._fetch(sql.FINISH, {"now": self.now(), "batch": batch})
        done = {row[0] for row in rows}
        unblocking = any(row[1] for row in rows)
        if unblocking or any(f.state in (JobState.PENDING, JobState.FAILED) for f in finishes):
            await self.notify("jobs")
        return done

    async def retry_dead(self, job_id: str) -> Job:
        now = self.now()
        rows = await self._fetch(
            f"UPDATE jobs SET state = 'pending', attempts = 0, run_at = :now, updated_at = :now "
            f"WHERE id = :id AND state = 'dead' RETURNING {sql.JOB_COLUMNS}",
            {"now": now, "id": job_id},
        )
        if not rows:
            job = await self.get(job_id)
            raise InvalidState(f"job {job_id!r} is {job.state.value}, not dead")
        await self.notify("jobs")
        return sql.job_from_row(rows[0])

    async def purge(
        self,
        *,
        states: frozenset[JobState],
        older_than: float | None = None,
        queue: str | None = None,
        limit: int = 500,
    ) -> int:
        cutoff = self.now() - (older_than or 0.0)
        query = sql.PURGE.format(queue="" if queue is None else "AND queue = :queue")
        params = {
            "cutoff": cutoff if older_than is not None else float("inf"),
            "states": json.dumps([s.value for s in states]),
            "queue": queue,
            "limit": limit,
        }
        return len(await self._fetch(query, params))

    async def expired_claims(self) -> list[Job]:
        rows = await self._fetch(
            f"SELECT {sql.JOB_COLUMNS} FROM jobs WHERE state = 'processing' AND lease_until < ?",
            (self.now(),),
        )
        return [sql.job_from_row(row) for row in rows]

    async def claims_of(self, runner_id: str) -> list[Job]:
        rows = await self._fetch(
            f"SELECT {sql.JOB_COLUMNS} FROM jobs WHERE state = 'processing' AND runner_id = ?",
            (runner_id,),
        )
        return [sql.job_from_row(row) for row in rows]

    # -- runners ------------------------------------------------------------
    async def register_runner(self, runner: RunnerInfo) -> None:
        await self._fetch(
            f"INSERT OR REPLACE INTO runners ({sql.RUNNER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                runner.id,
                runner.host,
                runner.pid,
                runner.started_at.timestamp(),
                runner.heartbeat_at.timestamp(),
                runner.concurrency,
                runner.pid_start,
                ",".join(runner.queues),
                runner.wake,
                int(runner.stop_requested),
            ),
        )

    async def unregister_runner(self, runner_id: str) -> None:
        await self._fetch("DELETE FROM runners WHERE id = ?", (runner_id,))

    async def list_runners(self) -> list[RunnerInfo]:
        rows = await self._fetch(f"SELECT {sql.RUNNER_COLUMNS} FROM runners ORDER BY started_at")
        return [sql.runner_from_row(row) for row in rows]

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        now = self.now()
        flags = await self._fetch(
            "UPDATE runners SET heartbeat_at = ? WHERE id = ? RETURNING stop_requested",
            (now, runner_id),
        )
        held = await self._fetch(
            "UPDATE jobs SET lease_until = ? WHERE runner_id = ? AND state = 'processing' "
            "RETURNING id",
            (now + lease_seconds, runner_id),
        )
        return Heartbeat(
            held=frozenset(row[0] for row in held),
            stop_requested=int(flags[0][0]) if flags else 0,
            registered=bool(flags),
        )

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        await self._fetch(
            "UPDATE runners SET stop_requested = max(stop_requested, ?) "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (2 if hard else 1, json.dumps(list(runner_ids))),
        )
        await self.notify("control")

    # -- wake-ups -----------------------------------------------------------
    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        return WakeListener(on_wake)

    async def notify(self, kind: WakeKind = "jobs") -> None:
        rows = await self._fetch("SELECT wake FROM runners WHERE wake IS NOT NULL")
        send_wakes((row[0] for row in rows), kind)


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would follow the umask)."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    if not path.parent.is_dir():
        raise StoreError(f"cannot open {path}: directory {path.parent} does not exist")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    os.close(fd)
