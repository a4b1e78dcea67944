"""A runner whose SQLite file is deleted or replaced stops with an error."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.faults.helpers import has_runner, job_processes
from tests.helpers import eventually
from tests.processes import Runners

pytestmark = pytest.mark.parametrize("shared_store_kind", ["sqlite"], indirect=True)


def _remove(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


def _replace(db: Path) -> None:
    other = db.with_name("other.db")
    with (
        contextlib.closing(sqlite3.connect(db)) as source,
        contextlib.closing(sqlite3.connect(other)) as copy,
    ):
        source.backup(copy)
    os.replace(other, db)


@pytest.mark.parametrize("change", [_remove, _replace], ids=["deleted", "replaced"])
async def test_a_runner_stops_when_its_store_is_gone(
    cli: CLI, runners: Runners, change: object, tmp_path: Path
) -> None:
    marker = tmp_path / "finished"
    cli("config", "set", "lease-seconds", "1.5", check=True)
    runner = runners.start("--quiet")
    await eventually(lambda: has_runner(cli, runner.pid), what="the runner")
    cli("enqueue", json.dumps({"id": "busy", "command": f"sleep 1; touch {marker}"}), check=True)
    await eventually(lambda: bool(job_processes(cli, "busy")), what="the job to start")
    assert callable(change)
    change(Path(cli.db))
    assert runner.wait(timeout=20) == 1
    log = runners.log(runner)
    errors = [line for line in log.splitlines() if "queuectl: error:" in line]
    word = "deleted" if change is _remove else "replaced"
    assert len(errors) == 1, log
    assert f"{cli.db} was {word}" in errors[0]
    assert "stopping (running jobs finish first)" in log
    assert "Traceback" not in log
    assert marker.exists()  # the running job was drained, not killed
