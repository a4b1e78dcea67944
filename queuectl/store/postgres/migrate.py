"""The PostgreSQL schema on open: created on first use, migrated forward, never back.

Migrations run in one transaction that first takes a transaction-scoped advisory lock
named after the schema, so runners starting together create or migrate it once: the
others wait for the lock, then find the work done. A schema written by a newer queuectl
is refused, never downgraded.
"""

from __future__ import annotations

from queuectl.domain.errors import StoreError
from queuectl.store.postgres.connection import Conn, PgTarget, quote_ident
from queuectl.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE

__all__ = ["migrate"]


async def _version(conn: Conn, schema: str) -> int | None:
    """The schema level, or None before the version table exists."""
    table = f"{quote_ident(schema)}.schema_version"
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return None
    return int(await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {table}"))


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
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock)
        # Checked first: CREATE SCHEMA IF NOT EXISTS would demand the CREATE privilege
        # on the database even when an administrator created the schema already.
        if not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", target.schema
        ):
            await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(VERSION_TABLE.replace("{s}", schema))
        version = await _version(conn, target.schema) or 0
        _check_not_newer(version, target)
        if version == SCHEMA_VERSION:
            return
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                await conn.execute(statement.replace("{s}", schema))
        await conn.execute(f"DELETE FROM {schema}.schema_version")
        await conn.execute(
            f"INSERT INTO {schema}.schema_version (version) VALUES ($1)", SCHEMA_VERSION
        )
