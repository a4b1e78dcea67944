"""Schedules on every store: definitions, firing once per tick, history, catch-up and
daylight-saving changes, on a clock the test moves (no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from queuectl.api.scheduling import new_schedule, schedule_spec
from queuectl.domain.cron import MAX_CATCH_UP
from queuectl.domain.errors import (
    DuplicateJob,
    DuplicateSchedule,
    ScheduleNotFound,
    UniqueConflict,
)
from queuectl.domain.models import Job, JobState
from queuectl.runner.firing import fire_due
from queuectl.store import Finish, NewJob, Store, memory_schedules, open_store
from queuectl.store.sqlite import schedules as sqlite_schedules
from tests.conftest import store_url
from tests.helpers import EPOCH, Clock

BERLIN = ZoneInfo("Europe/Berlin")
# The first minute tick after EPOCH (2023-11-14T22:13:20Z), when the schedules are made.
T0 = EPOCH + 40.0


async def add(
    store: Store,
    name: str = "s",
    cron: str = "* * * * *",
    *,
    command: str = "true",
    replace: bool = False,
    timezone: str = "UTC",
    catch_up: str = "latest",
    no_overlap: bool = False,
    **fields: object,
) -> None:
    spec = schedule_spec(
        name,
        cron,
        command,
        timezone=timezone,
        catch_up=catch_up,
        no_overlap=no_overlap,
        fields=fields,
    )
    await store.save_schedule(new_schedule(spec), replace=replace)


def job(job_id: str, command: str = "true") -> NewJob:
    return NewJob(id=job_id, command=command, max_retries=0)


async def jobs_of(store: Store) -> list[Job]:
    return [j async for j in store.list_jobs()]


async def fired_ticks(store: Store, name: str = "s") -> list[float]:
    """The ticks that made a job, oldest first."""
    fires = await store.schedule_fires(name, 1000)
    return sorted(f.at.timestamp() for f in fires if f.kind == "tick" and f.outcome == "fired")


async def run_until(store: Store, clock: Clock, end: float) -> None:
    """Be a runner from now to ``end``: fire what is due, sleep to the next tick."""
    while True:
        next_at = await fire_due(store, 0)
        if next_at is None or next_at > end:
            return
        clock.advance(next_at - clock())


@pytest.fixture
async def other(
    store_kind: str, store: Store, tmp_path: Path, clock: Clock
) -> AsyncIterator[Store]:
    """A second store on the same queue (another runner's connection); the memory store
    has only itself."""
    if store_kind == "memory":
        yield store
        return
    opened = await open_store(store_url(store_kind, tmp_path), clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_schedule_is_stored_validated_and_listed(store: Store) -> None:
    await add(store, "b", "*/5 * * * *", timezone="Europe/Berlin", no_overlap=True)
    await add(store, "a", "@daily", command="make report", queue="ops", priority=3)
    listed = await store.list_schedules()
    assert [s.name for s in listed] == ["a", "b"]
    a, b = listed
    assert a.template().queue == "ops"
    assert a.template().priority == 3
    assert a.template().command == "make report"
    assert (b.cron, b.timezone, b.no_overlap, b.catch_up) == (
        "*/5 * * * *",
        "Europe/Berlin",
        True,
        "latest",
    )
    assert b.cursor.timestamp() == pytest.approx(EPOCH)
    assert (b.last_job_id, b.missed, b.skipped) == (None, 0, 0)
    with pytest.raises(DuplicateSchedule):
        await add(store, "a")
    for missing in (
        store.get_schedule("nope"),
        store.remove_schedule("nope"),
        store.pause_schedule("nope", True),
        store.pause_schedule("nope", False),
        store.run_schedule("nope", job("j")),
        store.schedule_fires("nope"),
    ):
        with pytest.raises(ScheduleNotFound):
            await missing
    assert await store.fire_schedule("nope", T0, job("j")) == "taken"
    assert await jobs_of(store) == []


async def test_two_runners_firing_one_tick_make_one_job(
    store: Store, other: Store, clock: Clock
) -> None:
    await add(store)
    clock.advance(T0 - clock())
    tick = T0
    results = await asyncio.gather(
        store.fire_schedule("s", tick, job("j1")), other.fire_schedule("s", tick, job("j2"))
    )
    assert sorted(results) == ["fired", "taken"]
    assert len(await jobs_of(store)) == 1
    # Afterwards, too: the tick is behind the cursor and in the history.
    assert await store.fire_schedule("s", tick, job("j3")) == "taken"
    assert [j.id for j in await jobs_of(store)] == [(await store.get_schedule("s")).last_job_id]


async def test_a_failed_job_insert_leaves_no_fire_row(store: Store, clock: Clock) -> None:
    await store.enqueue([job("taken-id")])
    await add(store)
    clock.advance(T0 - clock())
    with pytest.raises(DuplicateJob):
        await store.fire_schedule("s", T0, job("taken-id"))
    assert await store.schedule_fires("s") == []
    assert (await store.get_schedule("s")).cursor.timestamp() == pytest.approx(EPOCH)
    # The tick is still to fire, and does.
    assert await store.fire_schedule("s", T0, job("fresh")) == "fired"


async def test_purging_its_jobs_never_fires_a_tick_again(store: Store, clock: Clock) -> None:
    await add(store)
    clock.advance(T0 + 1 - clock())
    await fire_due(store, 0)
    (fired,) = await jobs_of(store)
    claimed = await store.claim("r", 1, 30)
    await store.finish([Finish(fired.id, claimed[0].token, JobState.COMPLETED)])
    assert await store.purge(states=frozenset({JobState.COMPLETED})) == 1
    await fire_due(store, 0)
    assert await jobs_of(store) == []
    assert await fired_ticks(store) == [T0]
    assert (await store.get_schedule("s")).last_job_state is None  # purged


async def test_no_overlap_skips_ticks_while_the_job_runs_and_records_them(
    store: Store, clock: Clock
) -> None:
    """A job that takes longer than the period: its next ticks are skipped, each one
    recorded, until it ends."""
    await add(store, no_overlap=True)
    clock.advance(T0 - clock())
    await fire_due(store, 0)
    (running,) = await store.claim("r", 1, 600)
    for _ in range(2):
        clock.advance(60)
        await fire_due(store, 0)
    assert len(await jobs_of(store)) == 1
    await store.finish([Finish(running.id, running.token, JobState.COMPLETED)])
    clock.advance(60)
    await fire_due(store, 0)
    fires = await store.schedule_fires("s")
    assert [(f.at.timestamp() - T0, f.outcome) for f in fires] == [
        (180, "fired"),
        (120, "skipped"),
        (60, "skipped"),
        (0, "fired"),
    ]
    assert fires[1].job_id is None
    assert (await store.get_schedule("s")).skipped == 2
    assert len(await jobs_of(store)) == 2


@pytest.mark.parametrize(
    ("catch_up", "fired"),
    [("none", []), ("latest", [240]), ("all", [0, 60, 120, 180, 240])],
)
async def test_ticks_missed_while_no_runner_ran_follow_the_policy(
    store: Store, clock: Clock, catch_up: str, fired: list[int]
) -> None:
    await add(store, catch_up=catch_up)
    clock.advance(T0 + 4 * 60 + 30 - clock())  # runners down for 5 ticks
    await fire_due(store, 0)
    assert [t - T0 for t in await fired_ticks(store)] == fired
    assert (await store.get_schedule("s")).missed == 5 - len(fired)
    assert len(await jobs_of(store)) == len(fired)
    # Back to normal: the next tick fires on time, whatever the policy.
    clock.advance(30)
    await fire_due(store, 0)
    assert (await fired_ticks(store))[-1] == T0 + 300


async def test_catching_up_all_is_capped(store: Store, clock: Clock) -> None:
    await add(store, catch_up="all")
    clock.advance(T0 + 249 * 60 + 30 - clock())  # 250 ticks
    await fire_due(store, 0)
    ticks = await fired_ticks(store)
    assert len(ticks) == MAX_CATCH_UP
    assert (ticks[0], ticks[-1]) == (T0 + 150 * 60, T0 + 249 * 60)
    assert (await store.get_schedule("s")).missed == 150


async def test_replace_keeps_history_and_fires_no_tick_twice(store: Store, clock: Clock) -> None:
    await add(store, command="echo old")
    clock.advance(T0 - clock())
    await fire_due(store, 0)
    await add(store, "s", "*/1 * * * *", command="echo new", replace=True)
    await fire_due(store, 0)  # the same moment: the tick fired already
    clock.advance(60)
    await fire_due(store, 0)
    assert await fired_ticks(store) == [T0, T0 + 60]
    assert sorted(j.command for j in await jobs_of(store)) == ["echo new", "echo old"]


async def test_pause_skips_its_ticks_and_run_fires_outside_the_calendar(
    store: Store, clock: Clock
) -> None:
    await add(store)
    await store.pause_schedule("s", True)
    clock.advance(T0 + 600 - clock())
    assert await fire_due(store, 0) is None
    await store.pause_schedule("s", False)
    await fire_due(store, 0)
    assert await jobs_of(store) == []  # the paused ticks never fire
    await store.run_schedule("s", job("now"))
    (fire,) = await store.schedule_fires("s")
    assert (fire.kind, fire.job_id) == ("run", "now")
    assert fire.at.timestamp() == pytest.approx(clock())
    assert (await store.get_schedule("s")).last_job_id == "now"
    await store.remove_schedule("s")
    with pytest.raises(ScheduleNotFound):
        await store.schedule_fires("s")
    assert [j.id for j in await jobs_of(store)] == ["now"]  # its jobs stay


async def test_a_tick_whose_unique_key_is_live_is_skipped_and_recorded(
    store: Store, other: Store, clock: Clock
) -> None:
    """A live job holding the template's key makes the tick a skip (reason and holder
    in the history), never an error retried forever, whatever ``on_conflict`` says; the
    tick never fires later, and the next tick after the holder ends fires."""
    await add(store, unique_key="k", on_conflict="error")
    await store.enqueue([NewJob(id="holder", command="true", max_retries=0, unique_key="k")])
    clock.advance(T0 - clock())
    results = await asyncio.gather(
        store.fire_schedule("s", T0, job("j1")._replace(unique_key="k")),
        other.fire_schedule("s", T0, job("j2")._replace(unique_key="k")),
    )
    assert sorted(results) == ["skipped", "taken"]
    assert await fire_due(store, 0) is not None  # the same moment: nothing more to fire
    (fire,) = await store.schedule_fires("s")
    assert (fire.at.timestamp(), fire.outcome, fire.reason, fire.job_id) == (
        T0,
        "skipped",
        "unique",
        "holder",
    )
    schedule = await store.get_schedule("s")
    assert (schedule.skipped, schedule.last_job_id) == (1, None)
    assert [j.id for j in await jobs_of(store)] == ["holder"]
    with pytest.raises(UniqueConflict):
        await store.run_schedule("s", job("now")._replace(unique_key="k"))
    assert len(await store.schedule_fires("s")) == 1  # the refused run recorded nothing

    (claimed,) = await store.claim("r", 1, 30)
    await store.finish([Finish(claimed.id, claimed.token, JobState.COMPLETED)])
    clock.advance(60)
    await fire_due(store, 0)
    assert await fired_ticks(store) == [T0 + 60]
    made = [j for j in await jobs_of(store) if j.id != "holder"]
    assert [j.unique_key for j in made] == ["k"]


async def test_a_template_with_cwd_env_retry_on_and_key_fires_jobs_with_them(
    store: Store, clock: Clock
) -> None:
    """The template's JSON keeps every field of issue 19; the firing runner's configured
    retry-on codes apply where the template gives none."""
    await add(store, cwd="/srv/app", env={"MODE": "full"}, retry_on=[75, 76], unique_key="u")
    await add(store, "plain", command="true")
    clock.advance(T0 - clock())
    await fire_due(store, 0, (9,))
    keyed, plain = sorted(await jobs_of(store), key=lambda j: j.unique_key is None)
    assert (keyed.cwd, dict(keyed.env), keyed.retry_on, keyed.unique_key) == (
        "/srv/app",
        {"MODE": "full"},
        (75, 76),
        "u",
    )
    assert (plain.cwd, dict(plain.env), plain.retry_on, plain.unique_key) == (None, {}, (9,), None)


def berlin(year: int, month: int, day: int, hour: int, minute: int = 0, fold: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold).timestamp()


async def test_spring_forward_moves_a_time_that_does_not_exist(store: Store, clock: Clock) -> None:
    """2:30 does not exist on 2026-03-29 in Berlin: that day's job runs at 3:00."""
    clock.advance(berlin(2026, 3, 28, 12) - clock())
    await add(store, "daily", "30 2 * * *", timezone="Europe/Berlin")
    await add(store, "hourly", "0 * * * *", timezone="Europe/Berlin")
    await run_until(store, clock, berlin(2026, 3, 30, 12))
    assert await fired_ticks(store, "daily") == [berlin(2026, 3, 29, 3), berlin(2026, 3, 30, 2, 30)]
    hourly = await fired_ticks(store, "hourly")
    assert len(hourly) == 48 - 1  # 47 real hours: the clock skips 2:00
    assert all(b - a == 3600 for a, b in pairwise(hourly))


async def test_fall_back_fires_a_repeated_time_once(store: Store, clock: Clock) -> None:
    """2:30 happens twice on 2026-10-25 in Berlin: the daily job runs at the first."""
    clock.advance(berlin(2026, 10, 24, 12) - clock())
    await add(store, "daily", "30 2 * * *", timezone="Europe/Berlin")
    await add(store, "hourly", "0 * * * *", timezone="Europe/Berlin")
    await run_until(store, clock, berlin(2026, 10, 26, 12))
    assert await fired_ticks(store, "daily") == [
        berlin(2026, 10, 25, 2, 30, fold=0),
        berlin(2026, 10, 26, 2, 30),
    ]
    hourly = await fired_ticks(store, "hourly")
    assert len(hourly) == 48 + 1  # 49 real hours: 2:00 comes twice, an hour apart
    assert all(b - a == 3600 for a, b in pairwise(hourly))


async def test_history_is_trimmed_and_the_cursor_still_holds_the_line(
    store: Store, store_kind: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = [memory_schedules, sqlite_schedules]
    if store_kind == "postgres":  # its driver is an extra
        from queuectl.store.postgres import schedules as postgres_schedules

        modules.append(postgres_schedules)
    for module in modules:
        monkeypatch.setattr(module, "FIRE_HISTORY", 3)
    await add(store)
    clock.advance(T0 + 4 * 60 - clock())
    for n in range(5):
        assert await store.fire_schedule("s", T0 + 60 * n, job(f"j{n}")) == "fired"
    assert [f.job_id for f in await store.schedule_fires("s")] == ["j4", "j3", "j2"]
    # The oldest tick's record is gone; it still cannot fire again.
    assert await store.fire_schedule("s", T0, job("again")) == "taken"
    assert len(await jobs_of(store)) == 5
