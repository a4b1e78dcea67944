"""PostgreSQL: dispatch, queue overhead and pick-up latency on a local PostgreSQL store.

Every measurement gets a fresh database (created and dropped here) on the server that
``--pg-url`` names. The queuectl rows run once ``open_store`` accepts ``postgresql://``
URLs and are skipped with the reason until then; pgqueuer's no-op throughput (the goal's
reference for queue overhead) runs whenever pgqueuer is installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from benchmarks import latency
from benchmarks.dispatch import run_worker, spawn_floor
from benchmarks.harness import BenchError, Context, Param, Sizes, run_child
from benchmarks.overhead import measure_queue
from benchmarks.report import Goal, Report, Row
from benchmarks.seed import enqueue_via_api

__all__ = ["NAME", "PARAMS", "database", "reachable", "run"]

NAME = "postgres"
PARAMS = {
    "jobs": Param(5000, "true jobs for dispatch"),
    "counts": Param("4,16", "worker --count values for dispatch", scaled=False),
    "overhead_jobs": Param(20_000, "no-op jobs for queue overhead (both queues)"),
    "overhead_count": Param(16, "runner concurrency for queue overhead", scaled=False),
    "pgqueuer_batch": Param(10, "pgqueuer's dequeue batch size (its default)", scaled=False),
    "latency_jobs": Param(200, "jobs for pick-up latency"),
    "idle": Param(10.0, "seconds of idle CPU measurement", minimum=1.0),
    "floor_jobs": Param(
        2000, "spawns for the floor, when dispatch did not measure it", minimum=200
    ),
}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def database(ctx: Context) -> Iterator[str]:
    """A new empty database on the server; dropped afterwards unless --keep."""
    name = f"qbench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(ctx.pg_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(ctx.pg_url, name)
    finally:
        if not ctx.keep:
            asyncio.run(_admin(ctx.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _unsupported(url: str) -> str | None:
    """Why queuectl cannot use a PostgreSQL store here, or None when it can."""
    from queuectl.domain.errors import ConfigError, QueuectlError
    from queuectl.store import open_store

    async def probe() -> None:
        store = await open_store(url)
        await store.close()

    try:
        asyncio.run(probe())
    except ConfigError as exc:
        return f"queuectl has no PostgreSQL store in this tree yet ({exc})"
    except (QueuectlError, ImportError) as exc:
        return f"queuectl could not open {url}: {exc}"
    return None


def _pgqueuer(ctx: Context, sizes: Sizes) -> float | None:
    if importlib.util.find_spec("pgqueuer") is None:
        return None
    jobs = sizes.integer("overhead_jobs")
    ctx.log(f"postgres: pgqueuer no-op, {jobs} jobs")
    values = []
    for _ in range(max(1, ctx.repeat)):
        with database(ctx) as url:
            result = run_child(
                "benchmarks.pgqueuer_peer", url, jobs, sizes.integer("pgqueuer_batch")
            )
        if int(result["completed"]) != jobs:
            raise BenchError(f"pgqueuer completed {result['completed']} of {jobs}")
        values.append(jobs / float(result["seconds"]))
    return max(values)


def reachable(ctx: Context) -> str | None:
    """Why the PostgreSQL rows cannot run here, or None when they can."""
    try:
        asyncio.run(_admin(ctx.pg_url, "SELECT 1"))
    except ImportError:
        return "asyncpg is not installed (pip install 'queuectl[postgres]')"
    except Exception as exc:  # any failure to reach the server means: skip
        return f"no PostgreSQL server at {ctx.pg_url}: {exc}"
    return None


def run(ctx: Context, sizes: Sizes, report: Report) -> None:
    reason = reachable(ctx)
    if reason is not None:
        report.skip(NAME, reason)
        return
    peer = _pgqueuer(ctx, sizes)
    batch = sizes.integer("pgqueuer_batch")
    if peer is None:
        report.skip(NAME, "pgqueuer is not installed (pip install pgqueuer): no peer figure")
    else:
        case = f"pgqueuer no-op, {sizes.integer('overhead_jobs')} jobs, batch {batch}"
        report.add(Row(NAME, case, peer, "jobs/s"))
    with database(ctx) as url:
        reason = _unsupported(url)
    if reason is not None:
        report.skip(NAME, f"queuectl rows skipped: {reason}")
        return
    _overhead(ctx, sizes, report, peer)
    _dispatch(ctx, sizes, report)
    _latency(ctx, sizes, report)


def _overhead(ctx: Context, sizes: Sizes, report: Report, peer: float | None) -> None:
    jobs, count = sizes.integer("overhead_jobs"), sizes.integer("overhead_count")
    ctx.log(f"postgres: queuectl no-op overhead, {jobs} jobs, concurrency {count}")
    values = []
    for _ in range(max(1, ctx.repeat)):
        with database(ctx) as url:
            home = ctx.home("pg-overhead")
            enqueue_via_api(home, url, jobs, "true")
            values.append(measure_queue(url, home, count))
    report.add(
        Row(
            NAME,
            f"queue overhead, {jobs} no-op jobs, concurrency {count}",
            max(values),
            "jobs/s",
            floor=peer,
            floor_name="pgqueuer's no-op throughput on the same server",
            goal=Goal("ratio>=", 1.0) if peer is not None else None,
        )
    )
    sqlite = ctx.shared.get(f"overhead:{jobs}:{count}")
    if sqlite is not None:
        report.add(Row(NAME, "(same on SQLite, from this run)", float(sqlite), "jobs/s"))


def _dispatch(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs = sizes.integer("jobs")
    for count in sizes.integers("counts"):
        best, floor, _ = spawn_floor(ctx, sizes.integer("floor_jobs"), count)
        ctx.log(f"postgres: dispatch {jobs} jobs, --count {count}")
        seconds = []
        for _ in range(max(1, ctx.repeat)):
            with database(ctx) as url:
                seconds.append(run_worker(ctx, f"pg-dispatch-c{count}", jobs, count, "true", url))
        report.add(
            Row(
                NAME,
                f"dispatch, {jobs} x true, --count {count}",
                jobs / min(seconds),
                "jobs/s",
                floor=floor,
                floor_name=f"spawn floor: {best}",
                # Issue 5 sets dispatch goals for SQLite only; PostgreSQL is shown beside.
            )
        )


def _latency(ctx: Context, sizes: Sizes, report: Report) -> None:
    jobs = sizes.integer("latency_jobs")
    lat_sizes = Sizes(
        {"jobs": jobs, "idle": sizes.real("idle"), "gap": 0.02, "count": 4, "schedules": 5}
    )
    ctx.log(f"postgres: pick-up latency, {jobs} jobs")
    with database(ctx) as url:
        measured = latency.measure(ctx, "pg-latency", lat_sizes, url)
    floor = latency.direct_spawn(ctx, jobs, 0.02)
    latency.add_rows(report, NAME, f"pick-up, {jobs} jobs", measured, floor, 10.0, None)
    idle = sizes.real("idle")
    report.add(Row(NAME, f"idle runner CPU over {idle:g} s", measured.idle_cpu, "%"))
