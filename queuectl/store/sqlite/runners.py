"""The runner registry on SQLite: entries, heartbeats with their leases, stop requests.

Each runner's entry carries the address of its wake-up socket; ``wake_addresses`` is
what the store sends wake-ups to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from queuectl.domain.models import RunnerInfo
from queuectl.store.base import Heartbeat
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import SQLiteConnection
from queuectl.store.sqlite.rows import runner_from_row, runner_row

__all__ = ["heartbeat", "list_runners", "register", "request_stop", "unregister", "wake_addresses"]


async def register(db: SQLiteConnection, runner: RunnerInfo) -> None:
    await db.fetch(sql.REGISTER_RUNNER, runner_row(runner))


async def unregister(db: SQLiteConnection, runner_id: str) -> None:
    await db.fetch(sql.UNREGISTER_RUNNER, (runner_id,))


async def list_runners(db: SQLiteConnection) -> list[RunnerInfo]:
    return [runner_from_row(row) for row in await db.fetch(sql.LIST_RUNNERS)]


async def heartbeat(
    db: SQLiteConnection, now: float, runner_id: str, lease_seconds: float
) -> Heartbeat:
    """Renew the runner's entry, then the leases of the jobs it holds."""
    flags = await db.fetch(sql.BEAT, (now, runner_id))
    held = await db.fetch(sql.RENEW_LEASES, (now + lease_seconds, runner_id))
    return Heartbeat(
        held=frozenset(row[0] for row in held),
        stop_requested=int(flags[0][0]) if flags else 0,
        registered=bool(flags),
        cancel=frozenset(row[0] for row in held if row[1]),
    )


async def request_stop(db: SQLiteConnection, runner_ids: Sequence[str], *, hard: bool) -> None:
    await db.fetch(sql.REQUEST_STOP, (2 if hard else 1, json.dumps(list(runner_ids))))


async def wake_addresses(db: SQLiteConnection) -> list[str]:
    return [row[0] for row in await db.fetch(sql.WAKE_ADDRESSES)]
