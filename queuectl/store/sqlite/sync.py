"""A runner's own synchronous connection to its SQLite store, for the shell core's thread.

The shell core (``queuectl.runner.core``) writes outcomes and output and claims from one
thread, with neither the event loop nor aiosqlite's thread in between: the store's own
statements, on a plain ``sqlite3`` connection used only by that thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from queuectl.domain.models import Job, JobState
from queuectl.store.base import Finish, OutputWrite
from queuectl.store.sqlite import statements as sql
from queuectl.store.sqlite.checkpoints import OWN_PAGES
from queuectl.store.sqlite.connection import PRAGMAS, _explain

__all__ = ["SyncConnection"]


class SyncConnection:
    """Opened on the loop, then used by one other thread only."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self.path = path
        self.now = clock
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _explain(path, exc) from None
        try:
            conn.executescript(PRAGMAS)
            # The store's checkpoint loop copies the log from the side while this
            # connection writes (``changes``); its own commits do so only past this.
            conn.execute(f"PRAGMA wal_autocheckpoint = {OWN_PAGES}")
        except sqlite3.Error as exc:
            conn.close()
            raise _explain(path, exc) from None
        self._conn = conn

    def changes(self) -> int:
        """Rows written since it opened (the checkpoint loop's "wrote since?")."""
        return int(self._conn.total_changes)

    def exchange(
        self,
        finishes: Sequence[Finish],
        outputs: Sequence[OutputWrite],
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str],
    ) -> tuple[set[str], list[Job], bool]:
        """``Store.exchange`` with output written first, all in one commit.

        Also says whether other runners should look again (see ``exchange_result``).
        """
        conn = self._conn
        rows = []
        try:
            if outputs:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql.WRITE_OUTPUT, sql.output_rows(outputs))
            if finishes or limit:
                params = sql.exchange_params(
                    finishes, runner_id, self.now(), lease_seconds, limit, queues
                )
                rows = conn.execute(sql.exchange_sql(len(queues)), params).fetchall()
            if conn.in_transaction:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise _explain(self.path, exc) from None
        return sql.exchange_result(rows, finishes)

    def next_run_at(self, states: frozenset[JobState], queues: Sequence[str]) -> float | None:
        query, params = sql.next_run_at_sql(states, queues)
        row = self._read(query, params)
        return None if not row else row[0][0]

    def wake_addresses(self) -> list[str]:
        return [row[0] for row in self._read(sql.WAKE_ADDRESSES)]

    def _read(self, query: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return self._conn.execute(query, params).fetchall()
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def close(self) -> None:
        self._conn.close()
