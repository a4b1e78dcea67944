"""Three runners on three "hosts" share a PostgreSQL queue and a schedule every second;
one is killed (SIGKILL) and started again during the run: still exactly one job per
tick, no gap and no duplicate."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.store.postgres.store import PostgresStore
from tests.faults.helpers import stop_process
from tests.helpers import eventually
from tests.postgres.test_multihost import Host
from tests.schedule_checks import TICKS, assert_once_per_tick, fired_ticks

pytestmark = pytest.mark.postgres


@pytest.mark.slow
async def test_three_hosts_fire_each_tick_once_though_one_is_killed(
    pg_url: str, pg_store: PostgresStore, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    hosts = {name: Host(name, pg_url, home, tmp_path) for name in ("a", "b", "c")}
    procs = {name: host.start_runner("--count", "2") for name, host in hosts.items()}
    restarted: subprocess.Popen[bytes] | None = None
    try:

        async def hosts_up() -> bool:
            return sorted(r.host for r in await pg_store.list_runners()) == ["a", "b", "c"]

        await eventually(hosts_up)
        await Queue(pg_store).schedule("tick", "* * * * * *", "true")

        async def ticks_fired(count: int) -> bool:
            return len(await fired_ticks(pg_store, "tick")) >= count

        await eventually(lambda: ticks_fired(TICKS // 3), within=TICKS)
        killed = {r.id for r in await pg_store.list_runners() if r.host == "b"}
        procs["b"].send_signal(signal.SIGKILL)
        assert procs["b"].wait(10) == -signal.SIGKILL
        await asyncio.sleep(2)  # two ticks with b down (the point of the test)
        again = restarted = hosts["b"].start_runner("--count", "2")

        async def b_back() -> bool:
            return any(r.host == "b" and r.id not in killed for r in await pg_store.list_runners())

        await eventually(b_back)
        await eventually(lambda: ticks_fired(TICKS), within=TICKS + 15, every=0.5)
        await pg_store.pause_schedule("tick", True)
        for proc in (procs["a"], procs["c"], again):
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(30) for proc in (procs["a"], procs["c"], again)]
    finally:
        for started in [*procs.values(), restarted]:
            if started is not None:
                stop_process(started)  # type: ignore[arg-type]
    assert codes == [0, 0, 0], [h.log.read_text() for h in hosts.values()]
    await assert_once_per_tick(pg_store, "tick")
