"""The SQLite store's side tables: the runner registry, wake-ups, output and history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from queuectl.domain.errors import JobNotFound
from queuectl.domain.models import Attempt, JobOutput, RunnerInfo
from queuectl.host.wakeup import WakeListener, send_wakes
from queuectl.store.base import Heartbeat, OutputWrite, Subscription, WakeKind
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection

__all__ = ["SQLiteSideTables"]


class SQLiteSideTables(SQLiteConnection):
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
            "RETURNING id, cancel_requested",
            (now + lease_seconds, runner_id),
        )
        return Heartbeat(
            held=frozenset(row[0] for row in held),
            stop_requested=int(flags[0][0]) if flags else 0,
            registered=bool(flags),
            cancel=frozenset(row[0] for row in held if row[1]),
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

    async def maintain(self) -> None:
        from queuectl.store.sqlite.checkpoints import checkpoint_loop

        await checkpoint_loop(self)

    async def notify(self, kind: WakeKind = "jobs") -> None:
        rows = await self._fetch(sql.WAKE_ADDRESSES)
        send_wakes((row[0] for row in rows), kind)

    # -- output and history ---------------------------------------------------
    async def write_output(self, writes: Sequence[OutputWrite]) -> None:
        rows = sql.output_rows(writes)

        async def run(conn: Conn) -> None:
            await conn.execute("BEGIN IMMEDIATE")
            await conn.executemany(sql.WRITE_OUTPUT, rows)
            await conn.commit()

        if rows:
            await self._call(run)

    async def read_output(self, job_id: str, token: int) -> dict[int, JobOutput]:
        rows = await self._fetch(sql.READ_OUTPUT, (job_id, token))
        return {row[0]: JobOutput(bytes(row[1]), bytes(row[2]), row[3]) for row in rows}

    async def attempts(self, job_id: str) -> list[Attempt]:
        rows = await self._fetch(sql.ATTEMPTS, (job_id,))
        if not rows and not await self._fetch("SELECT 1 FROM jobs WHERE id = ?", (job_id,)):
            raise JobNotFound(job_id)
        return [sql.attempt_from_row(row) for row in rows]

    async def finished_since(self, seconds: float) -> int:
        rows = await self._fetch(
            "SELECT count(*) FROM jobs INDEXED BY jobs_finished "
            "WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at > ?",
            (self.now() - seconds,),
        )
        return int(rows[0][0])
