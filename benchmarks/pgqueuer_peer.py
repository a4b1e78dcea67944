"""pgqueuer's no-op throughput on a given database (the peer for PostgreSQL overhead).

    python -m benchmarks.pgqueuer_peer URL JOBS BATCH   →   {"seconds": …, "completed": …}

Installs pgqueuer's schema, enqueues JOBS no-op jobs, then times one QueueManager in
drain mode until the queue is empty.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from benchmarks.harness import run_async

__all__ = ["measure"]


async def measure(url: str, jobs: int, batch: int) -> dict[str, Any]:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
    from pgqueuer.types import QueueExecutionMode

    setup = await asyncpg.connect(url)
    queries = Queries(AsyncpgDriver(setup))
    await queries.install()
    for start in range(0, jobs, 1000):
        n = min(1000, jobs - start)
        await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
    await setup.close()

    conn = await asyncpg.connect(url)
    manager = QueueManager(Queries(AsyncpgDriver(conn)))
    completed = 0

    @manager.entrypoint("noop")
    async def noop(job: Job) -> None:
        nonlocal completed
        completed += 1

    begin = time.perf_counter()
    await manager.run(batch_size=batch, mode=QueueExecutionMode.drain)
    seconds = time.perf_counter() - begin
    if not conn.is_closed():
        await conn.close()
    return {"seconds": seconds, "completed": completed}


if __name__ == "__main__":
    print(json.dumps(run_async(measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))))
