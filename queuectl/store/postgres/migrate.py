"""The PostgreSQL schema on open: created on first use, migrated forward, never back.

Migrations run in one transaction that first takes a transaction-scoped advisory lock
named after the schema, so runners starting together create or migrate it once: the
others wait for the lock, then find the work done. A schema written by a newer queuectl
is refused, never downgraded.
"""

from __future__ import annotations

from queuectl.domain.errors import StoreError
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.connection import Conn, PgTarget, quote_ident
from queuectl.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE

__all__ = ["migrate"]


async def _version(conn: Conn, schema: str) -> int | None:
    """The schema level, or None before the version table exists."""
    quoted = quote_ident(schema)
    if await conn.fetchval(sql.TABLE_EXISTS, f"{quoted}.schema_version") is None:
        return None
    return int(await conn.fetchval(sql.SCHEMA_LEVEL.replace("{s}", quoted)))


def _check_not_newer(version: int, target: PgTarget) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"schema {target.schema!r} in {target.display} was written by a newer queuectl "
            f"(schema version {version}; this one knows up to {SCHEMA_VERSION}): "
            "upgrade queuectl"
        )


async def migrate(conn: Conn, target: PgTarget) -> None:
    """Create the schema on first use and apply the missing migrations, once."""
    version = await _version(conn, target.schema)
    if version is not None:
        _check_not_newer(version, target)
        if version == SCHEMA_VERSION:
            return  # the common case: no lock, no transaction
    schema = quote_ident(target.schema)
    async with conn.transaction():
        lock = f"queuectl:{target.schema}"
        await conn.execute(sql.LOCK_SCHEMA, lock)
        # Checked first: CREATE SCHEMA IF NOT EXISTS would demand the CREATE privilege
        # on the database even when an administrator created the schema already.
        if not await conn.fetchval(sql.SCHEMA_EXISTS, target.schema):
            await conn.execute(sql.CREATE_SCHEMA.replace("{s}", schema))
        await conn.execute(VERSION_TABLE.replace("{s}", schema))
        version = await _version(conn, target.schema) or 0
        _check_not_newer(version, target)
        if version == SCHEMA_VERSION:
            return
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                await conn.execute(statement.replace("{s}", schema))
        await conn.execute(sql.UNSET_SCHEMA_LEVEL.replace("{s}", schema))
        await conn.execute(sql.SET_SCHEMA_LEVEL.replace("{s}", schema), SCHEMA_VERSION)
