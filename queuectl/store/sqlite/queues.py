"""Queue settings on SQLite: pause and cap, and the age of each queue's oldest job.

The claim statements read ``queue_settings`` themselves (``statements._chosen``); this
module only writes and reads the rows for the API.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from queuectl.store.base import QueueSetting
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.connection import Conn, SQLiteConnection

__all__ = ["oldest_runnable", "queue_settings", "set_cap", "set_paused"]


async def set_paused(db: SQLiteConnection, names: Sequence[str], paused: bool) -> None:
    params = {"names": json.dumps(list(names)), "paused": int(paused)}

    async def run(conn: Conn) -> None:
        await conn.execute(sql.SET_PAUSED, params)
        await conn.execute(sql.PRUNE_QUEUE_SETTINGS)

    await db.transaction(run)


async def set_cap(db: SQLiteConnection, name: str, cap: int | None) -> None:
    async def run(conn: Conn) -> None:
        await conn.execute(sql.SET_CAP, {"name": name, "cap": cap})
        await conn.execute(sql.PRUNE_QUEUE_SETTINGS)

    await db.transaction(run)


async def queue_settings(db: SQLiteConnection) -> dict[str, QueueSetting]:
    rows = await db.fetch(sql.QUEUE_SETTINGS)
    return {name: QueueSetting(bool(paused), cap) for name, paused, cap in rows}


async def oldest_runnable(db: SQLiteConnection, queues: Sequence[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for name in queues:
        rows = await db.fetch(sql.OLDEST_RUNNABLE, {"q": name})
        if rows and rows[0][0] is not None:
            found[name] = rows[0][0]
    return found
