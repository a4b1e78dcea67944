"""A runner's round trip on SQLite: its output, a batch of finishes and a claim.

Finishes and claim are one ``UPDATE … FROM`` (``statements.exchange_sql``), a
transaction of its own; with output to store, output and that statement share one
write transaction instead, so a job's last output is durable with its outcome. While a
queue is paused or capped, that statement claims nothing and a second one claims
(``claim_with_settings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queuectl.domain.models import Job
from queuectl.store.base import Finish, OutputWrite
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection
from queuectl.store.sqlite.rows import exchange_result

__all__ = ["exchange_once"]


async def exchange_once(
    db: SQLiteConnection,
    now: float,
    finishes: Sequence[Finish],
    runner_id: str,
    limit: int,
    lease_seconds: float,
    queues: Sequence[str] | None,
    outputs: Sequence[OutputWrite],
) -> tuple[set[str], list[Job], bool]:
    """The ids finished, the jobs claimed in claim order, and whether a completed job
    had waiters (the statement could not see them runnable: claim again for them)."""
    names = list(dict.fromkeys(queues or ()))
    params = sql.exchange_params(finishes, runner_id, now, lease_seconds, limit, names)
    statement = sql.exchange_sql(len(names))
    if outputs:

        async def run(conn: Conn) -> list[Any]:
            await conn.executemany(sql.WRITE_OUTPUT, sql.output_rows(outputs))
            if finishes or limit > 0:
                return list(await conn.execute_fetchall(statement, params))
            return []

        rows = await db.transaction(run)
    else:
        rows = await db.fetch(statement, params)  # one statement: its own transaction
    done, taken, unblocked = exchange_result(rows, finishes)
    if len(taken) < limit:
        taken += await claim_with_settings(
            db, now, runner_id, limit - len(taken), lease_seconds, names
        )
    return done, taken, unblocked


async def claim_with_settings(
    db: SQLiteConnection,
    now: float,
    runner_id: str,
    limit: int,
    lease_seconds: float,
    names: list[str],
) -> list[Job]:
    """The claim while some queue is paused or capped (the exchange's own claims
    nothing then); none when no queue is. Asked only when the exchange came back
    short, so a busy queue with no settings never pays for it."""
    settings = await db.fetch(sql.HAS_SETTINGS)
    if not settings[0][0]:
        return []
    params = sql.exchange_params((), runner_id, now, lease_seconds, limit, names)
    del params["batch"]
    rows = await db.fetch(sql.claim_settings_sql(len(names)), params)
    return exchange_result(rows, ())[1]
