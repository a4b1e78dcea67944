"""Schema creation and migration: once, under a lock, never downgraded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from queuectl.domain.errors import StoreError
from queuectl.store.postgres.schema import SCHEMA_VERSION
from queuectl.store.postgres.store import PostgresStore
from tests import pgsupport
from tests.postgres.conftest import Admin

pytestmark = pytest.mark.postgres


async def _tables(admin: Admin, schema: str) -> list[str]:
    rows = await admin.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema
    )
    return [row[0] for row in rows]


async def test_first_open_creates_the_schema(pg_url: str, schema: str, admin: Admin) -> None:
    assert await _tables(admin, schema) == []
    store = await PostgresStore.open(pg_url)
    await store.close()
    tables = ["attempts", "deps", "jobs", "output", "runners", "schema_version", "tallies"]
    tables += ["tally_deltas", "queue_settings", "schedules", "schedule_fires"]
    assert await _tables(admin, schema) == sorted(tables)
    versions = await admin.fetch(f'SELECT version FROM "{schema}".schema_version')
    assert [row[0] for row in versions] == [SCHEMA_VERSION]


async def test_concurrent_first_opens_migrate_once(pg_url: str, schema: str, admin: Admin) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_url) for _ in range(8)))
    for store in stores:
        await store.close()
    versions = await admin.fetch(f'SELECT version FROM "{schema}".schema_version')
    assert [row[0] for row in versions] == [SCHEMA_VERSION]


def test_runner_processes_starting_together_share_one_migration(
    pg_url: str, tmp_path: Path
) -> None:
    env = dict(os.environ, QUEUECTL_HOME=str(tmp_path), QUEUECTL_DB=pg_url)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "queuectl", "status", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 6, results


async def test_a_newer_schema_is_refused(
    pg_url: str, schema: str, admin: Admin, tmp_path: Path
) -> None:
    store = await PostgresStore.open(pg_url)
    await store.close()
    await admin.execute(f'UPDATE "{schema}".schema_version SET version = 99')
    with pytest.raises(StoreError, match=r"newer queuectl \(schema version 99; this one knows"):
        await PostgresStore.open(pg_url)
    result = _queuectl(tmp_path, "--db", pg_url, "status")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "upgrade queuectl" in result.stderr
    assert (await admin.fetchval(f'SELECT version FROM "{schema}".schema_version')) == 99


async def test_unreachable_server_fails_fast_with_one_line(tmp_path: Path) -> None:
    url = pgsupport.with_params("postgresql://postgres@127.0.0.1:1/test", schema="x")
    began = time.monotonic()
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL at .*127\.0\.0\.1:1"):
        await PostgresStore.open(url)
    assert time.monotonic() - began < 5
    result = _queuectl(tmp_path, "--db", url, "enqueue", '{"command": "true"}')
    assert result.returncode == 1
    assert result.stderr.startswith("queuectl: error: cannot connect to PostgreSQL")
    assert result.stderr.count("\n") == 1


async def test_unknown_database_is_a_clear_error(pg_url: str) -> None:
    url = pg_url.replace("/test?", "/queuectl_no_such_db?", 1)
    if url == pg_url:
        pytest.skip("QUEUECTL_TEST_PG does not name the database 'test'")
    with pytest.raises(StoreError, match="queuectl_no_such_db"):
        await PostgresStore.open(url)


def _queuectl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "queuectl", *args],
        env=dict(os.environ, QUEUECTL_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=60,
    )
