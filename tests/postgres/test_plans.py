"""The hot path's query plans: index lookups whatever the statistics and plan cache say.

The runner's round trip (a batch of finishes and a claim, one statement) must find the
finished rows by id and the claimed ones in claim order through the claim index, never
by scanning: not the table, and not every processing job either, which the planner
would happily do when statistics say that few jobs are processing.
"""

from __future__ import annotations

import pytest

from queuectl.domain.models import JobState
from queuectl.store.base import NewJob
from queuectl.store.postgres.statements import exchange_sql, render
from queuectl.store.postgres.store import PostgresStore
from tests.pgsupport import plan_section
from tests.postgres.conftest import Admin

pytestmark = pytest.mark.postgres


def _literal(value: object) -> str:
    """A value as SQL text (for EXECUTE, which takes no parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    assert isinstance(value, list)
    items = ",".join("NULL" if v is None else str(v).lower() for v in value)
    return "'{" + items + "}'"


async def _explain(admin: Admin, query: str, args: list[object], *, generic: bool) -> list[str]:
    """The plan's lines: a custom plan for ``args``, or the generic plan (the one a
    prepared statement ends up with)."""
    async with admin.transaction():
        if generic:
            await admin.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await admin.execute(f"PREPARE exchange AS {query}")
            values = ", ".join(_literal(a) for a in args)
            rows = await admin.fetch(f"EXPLAIN EXECUTE exchange({values})")
            await admin.execute("DEALLOCATE exchange")
        else:
            rows = await admin.fetch(f"EXPLAIN {query}", *args)
    return [row[0] for row in rows]


@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
async def test_finish_by_id_and_claim_by_index(
    pg_store: PostgresStore, admin: Admin, generic: bool
) -> None:
    await pg_store.enqueue([NewJob(f"j{i}", "true", 0) for i in range(5000)])
    held = await pg_store.claim("r", 8, 30)
    schema = f'"{pg_store.target.schema}"'
    await admin.execute(f"ANALYZE {schema}.jobs")  # statistics: 8 jobs processing
    n = len(held)
    args: list[object] = [None, "r", 30.0, 4, 1, "c", [j.id for j in held]]
    args += [[j.token for j in held], [JobState.COMPLETED.value] * n, [0.0] * n, [True] * n]
    args += [[0] * n, [None] * n, ["exit"] * n, [None] * n]
    plan = await _explain(admin, render(exchange_sql(0), schema), args, generic=generic)
    target = plan_section(plan, "target")
    assert "jobs_id_key" in target, "\n".join(plan)  # an index scan or a bitmap one
    assert "jobs_lease" not in target, target  # not every processing job
    assert "jobs_state" not in target, target
    assert "Seq Scan on jobs" not in target, target
    picked = plan_section(plan, "picked")
    assert "Index Scan using jobs_claim on jobs" in picked, picked
    assert "Sort" not in picked, picked
    for cte in ("done", "claimed"):
        assert "Index Scan using jobs_pkey" in plan_section(plan, cte), "\n".join(plan)
    for cte in ("ended", "started"):
        assert "Seq Scan" not in plan_section(plan, cte), "\n".join(plan)


@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
@pytest.mark.parametrize("queue_count", [0, 1, 2])
async def test_the_claim_with_paused_and_capped_queues_reads_indexes(
    pg_store: PostgresStore, admin: Admin, generic: bool, queue_count: int
) -> None:
    """With queue settings: queues with none still come from the claim index in order
    (``picked``, or ``unset`` for any queue); capped ones (``capped``) from their
    range of jobs_claim_queue."""
    # Many queues, as statistics would show where queues are worth pausing or capping.
    await pg_store.enqueue([NewJob(f"j{i}", "true", 0, queue=f"q{i % 50}") for i in range(5000)])
    await pg_store.set_paused(["q1"], True)
    await pg_store.set_cap("q2", 2)
    schema = f'"{pg_store.target.schema}"'
    await admin.execute(f"ANALYZE {schema}.jobs")
    names = ["q0", "q2"][:queue_count]
    args: list[object] = [None, "r", 30.0, 4, 1, "c", *([[]] * 9)]
    if names:
        args.append(names[0] if queue_count == 1 else names)
    query = render(exchange_sql(queue_count), schema)
    plan = await _explain(admin, query, args, generic=generic)
    picked = plan_section(plan, "unset" if queue_count == 0 else "picked")
    capped = plan_section(plan, "capped")
    index = "jobs_claim_queue" if queue_count else "jobs_claim"
    assert f"Index Scan using {index} on jobs" in picked, picked
    assert "Index Scan using jobs_claim_queue on jobs" in capped, capped
    for part in (picked, capped):
        assert "Seq Scan on jobs" not in part, part
        assert "Bitmap Heap Scan on jobs" not in part, part
    if queue_count <= 1:
        assert "Sort" not in picked, picked
