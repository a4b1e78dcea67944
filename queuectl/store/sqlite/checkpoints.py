"""Keeping SQLite's write-ahead log short from a second connection, off the claims' path.

By default the connection whose commit takes the log past 1,000 pages copies the log
back into the database and syncs both files before its statement returns: on a runner,
now and then one claim waited for that, and those waits were the whole tail of the
pick-up latency. While a runner runs, a second connection of its own checkpoints every
``INTERVAL`` while the runner writes (and looks less and less often while it does not),
so at light load the log is copied back and reset between commits and no claim waits.

A passive checkpoint never waits for writers, so under a steady stream of commits it
may never copy the whole log, and the log is only reset (written again from its start)
once it has been copied whole. The runner's connection therefore still checkpoints
itself past ``OWN_PAGES``: by then the second connection has copied most of the log,
and after it the log resets. The price is a log that grows longer before it resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import TYPE_CHECKING

import aiosqlite

from queuectl.domain.errors import StoreError
from queuectl.store.sqlite import statements as sql

if TYPE_CHECKING:
    from queuectl.store.sqlite.connection import SQLiteConnection

__all__ = ["IDLE_INTERVAL", "INTERVAL", "OWN_PAGES", "checkpoint_loop"]

log = logging.getLogger("queuectl.runner")

#: Seconds between two checkpoints while the runner writes.
INTERVAL = 0.1
#: The longest pause between two looks while it does not (an idle runner stays idle;
#: a light load writes far fewer than OWN_PAGES pages in that time).
IDLE_INTERVAL = 2.0
#: Log size (pages) at which the runner's own commit still checkpoints (under load).
OWN_PAGES = 2000


async def checkpoint_loop(db: SQLiteConnection) -> None:
    """Checkpoint from a second connection until cancelled (a runner's side task).

    Never fails the runner: without the second connection its commits checkpoint as
    they would anyway.
    """
    opening = asyncio.ensure_future(aiosqlite.connect(db.path, isolation_level=None))
    try:
        side = await asyncio.shield(opening)
    except sqlite3.Error as exc:
        _stay(db, exc)
        return
    except asyncio.CancelledError:
        # Cancelled mid-connect (a runner stopped at once), aiosqlite's thread opens the
        # connection all the same and drops it unclosed: let it open, then close it.
        with contextlib.suppress(sqlite3.Error):
            await (await opening).close()
        raise
    try:
        try:
            await db.hold_checkpoints(OWN_PAGES)
        except StoreError as exc:
            _stay(db, exc)
            return
        try:
            written, pause = db.total_changes(), INTERVAL
            while True:
                await asyncio.sleep(pause)
                now = db.total_changes()
                if now == written:  # nothing of ours to copy: look less often
                    pause = min(pause * 2, IDLE_INTERVAL)
                    continue
                written, pause = now, INTERVAL
                await _checkpoint(side)
        finally:
            # The last runner to stop gives the connection its own checkpoints back (it
            # may outlive them: an application embedding the queue).
            with contextlib.suppress(StoreError):
                await db.release_checkpoints()
    finally:
        await side.close()


def _stay(db: SQLiteConnection, why: Exception) -> None:
    log.warning("checkpoints of %s stay on the runner's commits: %s", db.path, why)


async def _checkpoint(side: aiosqlite.Connection) -> None:
    # Busy (another connection checkpoints now) or failing: the next interval retries,
    # and past OWN_PAGES the runner's own commit checkpoints.
    with contextlib.suppress(sqlite3.Error):
        await side.execute_fetchall(sql.CHECKPOINT_PASSIVE)
