"""The SQLite store (aiosqlite): the embedded default, one machine, zero set-up.

The hot paths are single statements: a claim is one ``UPDATE … RETURNING`` over a
partial index, a batch of outcomes one ``UPDATE … FROM json_each``; triggers keep the
dependency counts and the attempt history in step inside those statements.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any

from queuectl.domain.errors import DuplicateJob, InvalidState, JobNotFound
from queuectl.domain.models import Job, JobState
from queuectl.store.base import (
    CancelResult,
    ExchangeParts,
    Finish,
    NewJob,
    OutputWrite,
    duplicate_in_batch,
    requeued,
)
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn
from queuectl.store.sqlite.side import SQLiteSideTables

__all__ = ["SQLiteStore"]

_PAGE = 500


class SQLiteStore(ExchangeParts, SQLiteSideTables):
    """A Store on one SQLite file, in WAL mode."""

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
        return duplicate_in_batch(ids)

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
        query, params = sql.next_run_at_sql(states, queues)
        rows = await self._fetch(query, params)
        return None if not rows else rows[0][0]

    async def exchange(
        self,
        finishes: Sequence[Finish],
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
        *,
        outputs: Sequence[OutputWrite] = (),
    ) -> tuple[set[str], list[Job]]:
        names = list(dict.fromkeys(queues or ()))
        params = sql.exchange_params(finishes, runner_id, self.now(), lease_seconds, limit, names)
        statement = sql.exchange_sql(len(names))
        if outputs:

            async def run(conn: Conn) -> list[Any]:
                await conn.execute("BEGIN IMMEDIATE")
                await conn.executemany(sql.WRITE_OUTPUT, sql.output_rows(outputs))
                rows = []
                if finishes or limit > 0:
                    rows = list(await conn.execute_fetchall(statement, params))
                await conn.commit()
                return rows

            rows = await self._call(run)
        else:
            rows = await self._fetch(statement, params)  # one statement: its own transaction
        done, taken, unblocked = sql.exchange_result(rows, finishes)
        if unblocked or requeued(finishes):
            await self.notify("jobs")
        rest = limit - len(taken)
        if rest > 0 and (unblocked or requeued(finishes, at_once=True)):
            # One statement sees the rows as they were when it began: claim these now.
            taken += (await self.exchange((), runner_id, rest, lease_seconds, queues))[1]
        return done, taken

    async def cancel(self, job_ids: Sequence[str]) -> dict[str, CancelResult]:
        ids = json.dumps(list(job_ids))
        params = {"ids": ids, "now": self.now()}

        async def run(conn: Conn) -> dict[str, CancelResult]:
            await conn.execute("BEGIN IMMEDIATE")
            found = await conn.execute_fetchall(
                "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))", (ids,)
            )
            cancelled = await conn.execute_fetchall(sql.CANCEL_UNCLAIMED, params)
            requested = await conn.execute_fetchall(sql.CANCEL_RUNNING, params)
            await conn.commit()
            results: dict[str, CancelResult] = dict.fromkeys(job_ids, "missing")
            results.update(dict.fromkeys((row[0] for row in found), "finished"))
            results.update(dict.fromkeys((row[0] for row in cancelled), "cancelled"))
            results.update(dict.fromkeys((row[0] for row in requested), "requested"))
            return results

        results = await self._call(run)
        if "requested" in results.values():
            await self.notify("control")
        return results

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
