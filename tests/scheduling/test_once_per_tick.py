"""Three runner processes on one SQLite file fire a schedule every second: exactly one
job per tick, no gap and no duplicate. (The PostgreSQL run, with hosts and a runner
killed, is in tests/postgres/test_schedules_multihost.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.store.sqlite.store import SQLiteStore
from tests.faults.helpers import stop_process
from tests.helpers import eventually
from tests.schedule_checks import TICKS, assert_once_per_tick, fired_ticks


@pytest.mark.slow
async def test_three_runners_on_sqlite_fire_each_tick_exactly_once(
    home: Path, tmp_path: Path
) -> None:
    db = home / "queuectl.db"
    env = dict(os.environ, QUEUECTL_HOME=str(home), QUEUECTL_DB=str(db))
    store = await SQLiteStore.open(db)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(3):
            with (tmp_path / f"runner-{n}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "queuectl", "worker", "start", "--count", "2"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

        async def all_up() -> bool:
            return len(await store.list_runners()) == 3

        await eventually(all_up)
        await Queue(store).schedule("tick", "* * * * * *", "true")

        async def enough() -> bool:
            return len(await fired_ticks(store, "tick")) >= TICKS

        await eventually(enough, within=TICKS + 15, every=0.5)
        await store.pause_schedule("tick", True)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(30) for proc in procs]
    finally:
        for proc in procs:
            stop_process(proc)  # type: ignore[arg-type]
        await store.close()
    logs = [(tmp_path / f"runner-{n}.log").read_text() for n in range(3)]
    assert codes == [0, 0, 0], logs
    store = await SQLiteStore.open(db)
    try:
        await assert_once_per_tick(store, "tick")
    finally:
        await store.close()
