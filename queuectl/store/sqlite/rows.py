"""Rows of the SQLite store as models, and models as rows (times are REAL epoch seconds).

Kept apart from the statements: these change with the models, the SQL with the schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from queuectl.domain.models import (
    NO_ENV,
    Attempt,
    Job,
    JobOutput,
    JobState,
    RunnerInfo,
    from_epoch,
)
from queuectl.store.base import Finish

__all__ = [
    "attempt_from_row",
    "exchange_result",
    "job_from_row",
    "output_from_row",
    "runner_from_row",
    "runner_row",
]


def exchange_result(
    rows: Sequence[Sequence[Any]], finishes: Sequence[Finish]
) -> tuple[set[str], list[Job], bool]:
    """The ids of the finishes that applied, the jobs claimed in claim order, and whether
    a completed job had waiters (which may be runnable now)."""
    done, taken, unblocking = set(), [], False
    for row in rows:
        if row[2] == JobState.PROCESSING:
            taken.append(job_from_row(row))
        else:
            done.add(row[0])
            unblocking = unblocking or bool(row[-1])  # a completed job's waiters may run
    taken.sort(key=lambda job: (-job.priority, job.run_at))
    return done, taken, unblocking


def _epoch(value: float | None) -> Any:
    return None if value is None else from_epoch(value)


def job_from_row(row: Sequence[Any]) -> Job:
    return Job(
        id=row[0],
        command=row[1],
        state=JobState(row[2]),
        attempts=row[3],
        max_retries=row[4],
        run_at=from_epoch(row[5]),
        created_at=from_epoch(row[6]),
        updated_at=from_epoch(row[7]),
        priority=row[8],
        queue=row[9],
        timeout=row[10],
        exit_code=row[11],
        last_error=row[12],
        started_at=_epoch(row[13]),
        finished_at=_epoch(row[14]),
        runner_id=row[15],
        lease_until=_epoch(row[16]),
        token=row[17],
        after=tuple(row[18].split(",")) if row[18] else (),
        blocked=row[19],
        backoff_base=row[20],
        backoff_max=row[21],
        backoff_jitter=row[22],
        cancel_requested=bool(row[23]),
        cwd=row[24],
        env=json.loads(row[25]) if row[25] else NO_ENV,
        retry_on=None if row[26] is None else tuple(json.loads(row[26])),
        unique_key=row[27],
        ready_at=_epoch(row[28]),
    )


def attempt_from_row(row: Sequence[Any]) -> Attempt:
    return Attempt(
        number=row[0],
        token=row[1],
        started_at=from_epoch(row[2]),
        runner_id=row[3],
        host=row[4],
        pid=row[5],
        ended_at=_epoch(row[6]),
        exit_code=row[7],
        signal=row[8],
        reason=row[9],
        output_lost=row[10],
    )


def runner_from_row(row: Sequence[Any]) -> RunnerInfo:
    return RunnerInfo(
        id=row[0],
        host=row[1],
        pid=row[2],
        started_at=from_epoch(row[3]),
        heartbeat_at=from_epoch(row[4]),
        concurrency=row[5],
        pid_start=row[6],
        queues=tuple(q for q in row[7].split(",") if q),
        wake=row[8],
        stop_requested=int(row[9]),
    )


def output_from_row(row: Sequence[Any]) -> JobOutput:
    """A row of ``READ_OUTPUT`` (after its stream)."""
    return JobOutput(bytes(row[1]), bytes(row[2]), row[3], row[4])


def runner_row(runner: RunnerInfo) -> tuple[Any, ...]:
    """``REGISTER_RUNNER``'s parameters, in ``RUNNER_COLUMNS`` order."""
    return (
        runner.id,
        runner.host,
        runner.pid,
        runner.started_at.timestamp(),
        runner.heartbeat_at.timestamp(),
        runner.concurrency,
        runner.pid_start,
        ",".join(runner.queues),
        runner.wake,
        int(runner.stop_requested),
    )
