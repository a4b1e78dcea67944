"""Rows of the PostgreSQL store as models (timestamptz arrives as aware UTC datetimes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from queuectl.domain.models import NO_ENV, Attempt, Job, JobOutput, JobState, RunnerInfo
from queuectl.store.base import OutputWrite

__all__ = [
    "attempt_from_row",
    "job_from_row",
    "output_from_row",
    "output_params",
    "runner_from_row",
    "sorted_claims",
]


def job_from_row(row: asyncpg.Record) -> Job:
    return Job(
        id=row["id"],
        command=row["command"],
        state=JobState(row["state"]),
        attempts=row["attempts"],
        max_retries=row["max_retries"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        priority=row["priority"],
        queue=row["queue"],
        timeout=row["timeout"],
        exit_code=row["exit_code"],
        last_error=row["last_error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        runner_id=row["runner_id"],
        lease_until=row["lease_until"],
        token=row["token"],
        after=tuple(row["after_ids"]),
        blocked=row["blocked"],
        backoff_base=row["backoff_base"],
        backoff_max=row["backoff_max"],
        backoff_jitter=row["backoff_jitter"],
        cancel_requested=row["cancel_requested"],
        cwd=row["cwd"],
        env=NO_ENV if row["env"] is None else json.loads(row["env"]),
        retry_on=None if row["retry_on"] is None else tuple(row["retry_on"]),
        unique_key=row["unique_key"],
        ready_at=row["ready_at"],
    )


def sorted_claims(rows: Sequence[asyncpg.Record]) -> list[Job]:
    """Claimed jobs in claim order (UPDATE … RETURNING does not keep it)."""
    ordered = sorted(rows, key=lambda r: (-r["priority"], r["run_at"], r["seq"]))
    return [job_from_row(row) for row in ordered]


def runner_from_row(row: asyncpg.Record) -> RunnerInfo:
    return RunnerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        concurrency=row["concurrency"],
        pid_start=row["pid_start"],
        queues=tuple(row["queues"]),
        wake=row["wake"],
        stop_requested=row["stop_requested"],
    )


def attempt_from_row(row: asyncpg.Record) -> Attempt:
    return Attempt(
        number=row["number"],
        token=row["token"],
        started_at=row["started_at"],
        runner_id=row["runner_id"],
        host=row["host"],
        pid=row["pid"],
        ended_at=row["ended_at"],
        exit_code=row["exit_code"],
        signal=row["signal"],
        reason=row["reason"],
        output_lost=row["output_lost"],
    )


def output_from_row(row: asyncpg.Record) -> JobOutput:
    return JobOutput(bytes(row["head"]), bytes(row["tail"]), row["total"], row["lost"])


def output_params(writes: Sequence[OutputWrite]) -> tuple[list[Any], ...]:
    """``WRITE_OUTPUT``'s seven array parameters, one element per attempt and stream.

    Writes of the same stream are merged first: a statement may not update a row twice.
    """
    merged: dict[tuple[str, int, int], OutputWrite] = {}
    for w in writes:
        key = (w.job_id, w.token, w.stream)
        old = merged.get(key)
        merged[key] = (
            w
            if old is None
            else OutputWrite(*key, old.head + w.head, w.tail, w.total, old.lost or w.lost)
        )
    rows = list(merged.values())
    return (
        [w.job_id for w in rows],
        [w.token for w in rows],
        [w.stream for w in rows],
        [w.head for w in rows],
        [w.tail for w in rows],
        [w.total for w in rows],
        [w.lost for w in rows],
    )
