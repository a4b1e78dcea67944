"""Fixtures for the PostgreSQL-specific tests: a private schema, an admin connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeAlias

import asyncpg
import pytest

from queuectl.store.postgres.store import PostgresStore
from tests import pgsupport
from tests.conftest import store_url
from tests.postgres.proxy import Proxy

Admin: TypeAlias = "asyncpg.Connection[asyncpg.Record]"


@pytest.fixture
def pg_url(tmp_path: Path) -> str:
    """This test's private schema (dropped after the test); skips if no server."""
    return store_url("postgres", tmp_path)


@pytest.fixture
def schema(pg_url: str, tmp_path: Path) -> str:
    return pgsupport.schema_for(tmp_path)


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[PostgresStore]:
    store = await PostgresStore.open(pg_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def admin(pg_url: str) -> AsyncIterator[Admin]:
    """A connection of the test itself (outside the store) for inspection and faults."""
    conn = await asyncpg.connect(pgsupport.PG_URL)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[Proxy]:
    proxy = Proxy.for_url(pgsupport.PG_URL)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def backends(admin: Admin, application_name: str) -> list[int]:
    """Server pids of the connections with this application name."""
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
        application_name,
    )
    return [row["pid"] for row in rows]


async def terminate(admin: Admin, application_name: str) -> int:
    """pg_terminate_backend on every connection with this application name."""
    pids = await backends(admin, application_name)
    for pid in pids:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    return len(pids)
