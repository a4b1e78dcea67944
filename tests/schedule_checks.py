"""What "exactly once per tick" means, checked against a store after a run."""

from __future__ import annotations

import math

from queuectl.store import Store

#: Ticks of the once-per-tick runs (a schedule every second).
TICKS = 20


async def fired_ticks(store: Store, name: str) -> list[float]:
    fires = await store.schedule_fires(name, 1000)
    return sorted(f.at.timestamp() for f in fires if f.kind == "tick")


async def assert_once_per_tick(store: Store, name: str) -> None:
    """Every second from the schedule's creation to its last fire made exactly one job:
    no tick missed, skipped or passed over, none twice, every fire's job there."""
    schedule = await store.get_schedule(name)
    fires = sorted(await store.schedule_fires(name, 1000), key=lambda f: f.at)
    ticks = [f.at.timestamp() for f in fires]
    assert len(ticks) >= TICKS
    first = math.floor(schedule.created_at.timestamp()) + 1
    assert ticks == [first + n for n in range(len(ticks))], "a gap or a repeat"
    assert {f.outcome for f in fires} == {"fired"}
    assert (schedule.missed, schedule.skipped) == (0, 0)
    job_ids = [j.id async for j in store.list_jobs()]
    assert sorted(job_ids) == sorted(str(f.job_id) for f in fires), "a job without its fire"
