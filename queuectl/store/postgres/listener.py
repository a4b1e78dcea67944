"""Wake-ups through LISTEN/NOTIFY on a dedicated connection that reconnects.

Notifications are hints: ``jobs`` (new or re-runnable work), ``control`` (re-read
the registry flags) and ``schedules`` (a schedule changed). A dropped connection is
noticed at once when the server closes it (``pg_terminate_backend``, a restart) and by
a periodic ping otherwise; the listener then reconnects with backoff and, once
listening again, fires every kind of wake-up so that the runner looks for whatever was
announced while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from queuectl.domain.errors import StoreError
from queuectl.store.base import WakeKind
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.connection import DRIVER_ERRORS, PgTarget, describe, is_transient

__all__ = ["PgListener"]

log = logging.getLogger("queuectl.store")

#: How often an idle listening connection proves it is still alive.
PING_EVERY = 15.0
_PING_TIMEOUT = 5.0
_MAX_BACKOFF = 5.0


class PgListener:
    """A Subscription: calls ``on_wake`` for each notification on ``channel``."""

    def __init__(
        self,
        target: PgTarget,
        on_wake: Callable[[WakeKind], None],
        *,
        on_close: Callable[[PgListener], None] | None = None,
    ) -> None:
        self._target = target
        self._channel = target.channel
        self._on_wake = on_wake
        self._on_close = on_close
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str | None:
        return None  # wake-ups go through the database, not to an address

    async def start(self, *, retry_for: float = 30.0) -> None:
        """Connect and listen; a lost connection is tried again for ``retry_for`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + retry_for
        delay = 0.05
        while self._conn is None:
            try:
                self._conn = await self._listen()
            except DRIVER_ERRORS as exc:
                if not is_transient(exc) or loop.time() + delay > deadline:
                    raise StoreError(f"cannot listen for wake-ups: {describe(exc)}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
        self._task = asyncio.create_task(self._supervise(), name="queuectl-pg-listener")

    async def _listen(self) -> asyncpg.Connection[asyncpg.Record]:
        conn = await asyncpg.connect(
            self._target.dsn,
            timeout=10,
            server_settings={"application_name": self._target.application_name[:54] + " listener"},
        )
        try:
            conn.add_termination_listener(self._terminated)
            await conn.add_listener(self._channel, self._notified)
        except BaseException:
            conn.terminate()
            raise
        return conn

    def _terminated(self, conn: object) -> None:
        if conn is self._conn:
            self._lost.set()

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        kind: WakeKind = "jobs"
        if payload == "control" or payload == "schedules":
            kind = payload
        self._on_wake(kind)

    async def _supervise(self) -> None:
        while True:
            await self._until_lost()
            log.warning("wake-up listener lost its connection; reconnecting")
            old, self._conn = self._conn, None
            self._lost.clear()
            if old is not None:
                old.terminate()
            self._conn = await self._reconnect()
            log.info("listening for wake-ups again")
            # Whatever was announced while nobody listened: look for it now.
            self._on_wake("jobs")
            self._on_wake("control")
            self._on_wake("schedules")

    async def _until_lost(self) -> None:
        while True:
            conn = self._conn
            if conn is None or conn.is_closed():
                return  # e.g. closed before its termination listener could tell
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), PING_EVERY)
                return
            try:
                await asyncio.wait_for(conn.execute(sql.PING), _PING_TIMEOUT)
            except DRIVER_ERRORS:
                return

    async def _reconnect(self) -> asyncpg.Connection[asyncpg.Record]:
        delay = 0.05
        while True:
            try:
                return await self._listen()
            except DRIVER_ERRORS as exc:
                log.warning("wake-up listener: reconnecting failed (%s)", describe(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def close(self) -> None:
        if self._on_close is not None:
            self._on_close(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), _PING_TIMEOUT)
            except DRIVER_ERRORS:
                conn.terminate()
