"""Connections to PostgreSQL: a pool, and operations that outlive lost connections.

Every store operation is a function of one connection, run by ``PgPool.run``: when the
connection drops or the server restarts, the broken connection is discarded and the
operation runs again on a fresh one, with backoff, for up to ``retry_for`` seconds.
The operation is told when it is a retry, because the reply of a statement that did
commit can be lost with its connection; it then checks before writing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from queuectl.domain.errors import ConfigError, StoreError
from queuectl.store.postgres.connection import DRIVER_ERRORS, Conn, PgTarget, describe, is_transient

__all__ = ["Operation", "PgPool"]

log = logging.getLogger("queuectl.store")

T = TypeVar("T")
#: One unit of work on a connection; the flag says whether an earlier try may have
#: committed unseen.
Operation = Callable[[Conn, bool], Awaitable[T]]

#: Seconds to wait on open for a server that answers but drops the connection.
_STARTING_FOR = 5.0
_CONNECT_TIMEOUT = 10.0
_MAX_BACKOFF = 1.0


class PgPool:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record], target: PgTarget, retry_for: float):
        self._pool = pool
        self.target = target
        self.retry_for = retry_for

    @classmethod
    async def connect(cls, target: PgTarget, *, retry_for: float) -> PgPool:
        """A pool, once one connection has proved that the server is reachable.

        The pool keeps no minimum of connections (``min_size=0``): during an outage it
        then has nothing to restore in the background, and every connection is made on
        demand by an operation that retries.
        """
        pool = await asyncpg.create_pool(
            target.dsn,
            min_size=0,
            max_size=target.pool_size,
            timeout=_CONNECT_TIMEOUT,
            server_settings={"application_name": target.application_name},
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STARTING_FOR
        delay = 0.1
        while True:
            try:
                async with pool.acquire():
                    return cls(pool, target, retry_for)
            except ValueError as exc:  # asyncpg's complaint about the URL itself
                await pool.close()
                raise ConfigError(f"bad PostgreSQL URL {target.display}: {exc}") from None
            except DRIVER_ERRORS as exc:
                # An unreachable server fails at once; one that answered but dropped the
                # connection (starting up, full, a connection killed) gets a few seconds.
                unreachable = isinstance(exc, OSError | TimeoutError)
                if unreachable or not is_transient(exc) or loop.time() + delay > deadline:
                    await pool.close()
                    raise StoreError(
                        f"cannot connect to PostgreSQL at {target.display}: {describe(exc)}"
                    ) from None
            await asyncio.sleep(delay)
            delay *= 2

    async def run(self, op: Operation[T]) -> T:
        """Run ``op`` on a pooled connection; after a lost connection, again with backoff."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        delay, retrying = 0.05, False
        while True:
            try:
                async with self._pool.acquire() as conn:
                    try:
                        return await op(conn, retrying)
                    except DRIVER_ERRORS as exc:
                        if is_transient(exc):
                            _discard(conn)
                        raise
            except DRIVER_ERRORS as exc:
                if not is_transient(exc):
                    raise StoreError(f"PostgreSQL: {describe(exc)}") from None
                if loop.time() + delay > deadline:
                    raise StoreError(
                        f"PostgreSQL at {self.target.display} unreachable for "
                        f"{self.retry_for:g}s: {describe(exc)}"
                    ) from None
                if not retrying:
                    log.warning("PostgreSQL connection lost (%s); retrying", describe(exc))
                retrying = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def fetch(self, statement: str, *args: object) -> list[asyncpg.Record]:
        """One idempotent statement (a read, or a write that may safely apply twice)."""

        async def op(conn: Conn, retrying: bool) -> list[asyncpg.Record]:
            return await conn.fetch(statement, *args)

        return await self.run(op)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), 10)
        except TimeoutError:
            self._pool.terminate()


def _discard(conn: Conn) -> None:
    """Make sure the pool never hands a broken connection out again."""
    # The driver may have given it back to the pool already (it then says so).
    with contextlib.suppress(asyncpg.InterfaceError):
        if not conn.is_closed():
            conn.terminate()
