"""Unique keys cost an index lookup, never a scan: the holders of the keys of a batch,
and the holder of one job's key, are found through the partial index of live keys."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from queuectl.store import NewJob, open_store
from queuectl.store.sqlite import statements as lite
from queuectl.store.sqlite.schema import MIGRATIONS
from tests import pgsupport
from tests.conftest import store_url


@pytest.mark.parametrize(
    ("statement", "params"),
    [(lite.LIVE_KEYS, (json.dumps(["a", "b"]),)), (lite.KEY_HOLDER, ("j1",))],
    ids=["live_keys", "key_holder"],
)
def test_sqlite_finds_key_holders_by_the_unique_index(
    tmp_path: Path, statement: str, params: tuple[str, ...]
) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "plan.db")) as conn:
        for migration in MIGRATIONS[0]:
            conn.execute(migration)
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement, params)]
    lookups = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert any("jobs_unique" in step for step in lookups), plan
    assert "SCAN jobs" not in lookups, plan
    assert "SCAN k" not in lookups, plan


@pytest.mark.postgres
async def test_postgres_finds_key_holders_by_the_unique_index(tmp_path: Path) -> None:
    import asyncpg

    from queuectl.store.postgres import statements as pg
    from queuectl.store.postgres.store import PostgresStore

    store = await open_store(store_url("postgres", tmp_path))
    assert isinstance(store, PostgresStore)
    try:
        await store.enqueue([NewJob(f"j{i}", "true", 0, unique_key=f"k{i}") for i in range(50)])
        schema = f'"{store.target.schema}"'
    finally:
        await store.close()
    conn = await asyncpg.connect(pgsupport.PG_URL)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")  # a tiny table: forbid it
            plans = [
                [r[0] for r in await conn.fetch("EXPLAIN " + pg.render(sql, schema), arg)]
                for sql, arg in ((pg.LIVE_KEYS, ["k1", "k2"]), (pg.KEY_HOLDER, "j1"))
            ]
    finally:
        await conn.close()
    for plan in plans:
        assert any("jobs_unique" in line for line in plan), plan
        assert not any("Seq Scan" in line for line in plan), plan
