"""``retry``, ``rm`` and ``list --newest`` through the real command (SQLite and
PostgreSQL), and the query plans that keep ``list --newest`` an index walk."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from pathlib import Path

import pytest

from queuectl.store.sqlite.schema import MIGRATIONS
from queuectl.store.sqlite.statements import SEQ_END, list_page_sql
from tests import pgsupport
from tests.conftest import CLI, store_url


def _state(cli: CLI, job_id: str) -> dict[str, object]:
    shown = json.loads(cli("show", job_id, "--json", check=True).stdout)
    assert isinstance(shown, dict)
    return shown


def _finished_jobs(cli: CLI) -> None:
    """ok completed, bad dead, stop cancelled, wait pending (delayed), w cancelled."""
    cli("add", "--id", "ok", "--", "true", check=True)
    cli("add", "--id", "bad", "--retries", "0", "--", "exit 3", check=True)
    cli("add", "--id", "wait", "--delay", "1h", "--", "true", check=True)
    cli("add", "--id", "stop", "--delay", "1h", "--", "true", check=True)
    cli("add", "--id", "w", "--after", "bad", "--", "true", check=True)
    cli("cancel", "stop", check=True)
    cli("worker", "start", "--burst", check=True)


def test_retry_runs_finished_jobs_again(cli: CLI) -> None:
    _finished_jobs(cli)
    result = cli("retry", "ok", "stop", "bad")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ok: pending again (attempts reset)",
        "stop: pending again (attempts reset)",
        "bad: pending again (attempts reset)",
    ]
    shown = _state(cli, "ok")
    assert (shown["state"], shown["attempts"]) == ("pending", 0)
    assert len(shown["attempt_history"]) == 1  # type: ignore[arg-type]
    cli("worker", "start", "--burst", check=True)
    shown = _state(cli, "ok")
    assert (shown["state"], shown["attempts"]) == ("completed", 1)
    assert len(shown["attempt_history"]) == 2  # type: ignore[arg-type]


def test_retry_refuses_unfinished_and_unknown_jobs_per_id(cli: CLI) -> None:
    _finished_jobs(cli)
    result = cli("retry", "wait", "ok", "ghost", "w")
    assert result.returncode == 1
    assert result.stdout == "ok: pending again (attempts reset)\n"
    assert result.stderr.splitlines() == [
        "queuectl: error: job 'wait' is pending, not finished; left alone",
        "queuectl: error: no job with id 'ghost'",
        "queuectl: error: job 'w' runs after a job that is dead or cancelled; retry that one first",
    ]
    # its dependency first, then the waiter: it waits for it again
    result = cli("retry", "bad", "w")
    assert result.returncode == 0, result.stderr
    assert _state(cli, "w")["state"] == "pending"


@pytest.mark.parametrize("command", ["retry", "rm"])
def test_bad_ids_are_refused_before_anything_changes(cli: CLI, command: str) -> None:
    _finished_jobs(cli)
    result = cli(command, "ok", "no/such id")
    assert result.returncode == 2
    assert result.stderr.startswith("queuectl: error: invalid job id 'no/such id'")
    assert len(result.stderr.splitlines()) == 1
    assert _state(cli, "ok")["state"] == "completed"
    too_many = [f"j{i}" for i in range(10_001)]
    result = cli(command, *too_many)
    assert (result.returncode, result.stderr) == (
        2,
        "queuectl: error: at most 10000 job ids at a time, got 10001\n",
    )


def test_rm_deletes_finished_jobs_and_refuses_the_others(cli: CLI) -> None:
    _finished_jobs(cli)
    result = cli("rm", "ok", "bad", "wait", "ghost")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["ok: removed", "bad: removed"]
    assert result.stderr.splitlines() == [
        "queuectl: error: job 'wait' is pending; cancel it first",
        "queuectl: error: no job with id 'ghost'",
    ]
    assert cli("show", "ok").returncode == 1
    listed = json.loads(cli("list", "--json", check=True).stdout)
    assert [j["id"] for j in listed] == ["wait", "stop", "w"]
    status = json.loads(cli("status", "--json", check=True).stdout)
    assert status["jobs"] == {
        "pending": 1, "processing": 0, "completed": 0, "failed": 0, "dead": 0, "cancelled": 2
    }  # fmt: skip


def test_list_newest_shows_the_latest_jobs_first(cli: CLI) -> None:
    for i in range(5):
        cli("add", "--id", f"j{i}", "--queue", "even" if i % 2 == 0 else "odd", "--", "true",
            check=True)  # fmt: skip
    cli("cancel", "j3", check=True)

    def ids(*args: str) -> list[str]:
        return [j["id"] for j in json.loads(cli("list", "--json", *args, check=True).stdout)]

    assert ids("--newest") == ["j4", "j3", "j2", "j1", "j0"]
    assert ids("--newest", "--limit", "2") == ["j4", "j3"]
    assert ids("--newest", "--queue", "even", "--limit", "2") == ["j4", "j2"]
    assert ids("--newest", "--state", "pending") == ["j4", "j2", "j1", "j0"]
    text = cli("list", "--newest", "--limit", "1", check=True).stdout
    assert "j4" in text
    assert "j3" not in text


@pytest.mark.parametrize("state", [False, True])
@pytest.mark.parametrize("queue", [False, True])
def test_the_sqlite_newest_page_walks_an_index_backwards(state: bool, queue: bool) -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        params = {"after": SEQ_END, "page": 500, "state": "pending", "queue": "q"}
        query = list_page_sql(state=state, queue=queue, newest=True)
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query, params)]
    assert not any("TEMP B-TREE" in step for step in plan), plan  # no sort of every row
    expected = "USING INDEX jobs_state" if state else "USING INTEGER PRIMARY KEY"
    assert any(expected in step for step in plan), plan


@pytest.mark.postgres
@pytest.mark.parametrize("state", [False, True])
async def test_the_postgres_newest_page_walks_an_index_backwards(
    tmp_path: Path, state: bool
) -> None:
    import asyncpg

    from queuectl.store import open_store
    from queuectl.store.base import NewJob
    from queuectl.store.postgres.statements import SEQ_END as PG_SEQ_END
    from queuectl.store.postgres.statements import list_page_sql as pg_list_page_sql
    from queuectl.store.postgres.statements import render

    store = await open_store(store_url("postgres", tmp_path))
    try:
        await store.enqueue([NewJob(f"j{i}", "true", 0) for i in range(2000)])
    finally:
        await store.close()
    schema = '"' + pgsupport.schema_for(tmp_path) + '"'
    conn = await asyncpg.connect(pgsupport.PG_URL)
    try:
        # most jobs finished, as in a long-lived store
        await conn.execute(f"UPDATE {schema}.jobs SET state = 'completed' WHERE seq % 50 <> 0")
        await conn.execute(f"ANALYZE {schema}.jobs")
        query = render(pg_list_page_sql(state=state, queue=False, newest=True), schema)
        args: list[object] = [PG_SEQ_END, 20] + (["pending"] if state else [])
        rows = await conn.fetch("EXPLAIN " + query, *args)
    finally:
        await conn.close()
    plan = "\n".join(row[0] for row in rows)
    index = "jobs_state" if state else "jobs_pkey"
    assert re.search(rf"Index (Only )?Scan Backward using {index}\b", plan), plan
    assert "Sort" not in plan, plan
    assert "Seq Scan" not in plan, plan
