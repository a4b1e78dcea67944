"""The PostgreSQL store's clock: the database server's, as this host best knows it.

Run_at, leases and heartbeats are stamped and compared by the server (``now()`` in the
statements), so hosts whose clocks disagree still agree on them. What this host needs
of the time itself (display, the runner's idle timer) is its own clock corrected by the
offset to the server's, measured on open and at every heartbeat. A clock injected at
open (tests) replaces the server's in every statement instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from queuectl.domain.models import from_epoch
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.connection import Conn

__all__ = ["At", "ServerClock"]

#: ``ServerClock.at``: the ``$1`` of timed statements.
At = Callable[[], datetime | None]


class ServerClock:
    """The server's time, estimated locally; or an injected clock."""

    def __init__(self, clock: Callable[[], float] | None) -> None:
        self._clock = clock
        self._offset = 0.0

    def now(self) -> float:
        return self._clock() if self._clock is not None else time.time() + self._offset

    def at(self) -> datetime | None:
        """The ``$1`` of timed statements: None means the server's own clock."""
        return None if self._clock is None else from_epoch(self._clock())

    async def sync(self, conn: Conn, retrying: bool = False) -> None:
        """Measure the offset to the server's clock (an operation for ``PgPool.run``)."""
        before = time.time()
        server = await conn.fetchval(sql.SERVER_TIME)
        self.note(server, before)

    def note(self, server: float, before: float) -> None:
        """Take ``server``, read by a statement sent at local time ``before``."""
        self._offset = server - (before + time.time()) / 2
