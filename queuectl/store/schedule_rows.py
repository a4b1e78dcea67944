"""Schedule and fire-history rows as records, for every store (each keeps these times
as epoch seconds, and gives the columns in the order given here)."""

from __future__ import annotations

from typing import Any

from queuectl.domain.models import JobState, from_epoch
from queuectl.domain.schedule import Fire, Schedule

__all__ = ["fire_from_row", "schedule_from_row"]


def _moment(value: float | None) -> Any:
    return None if value is None else from_epoch(value)


def schedule_from_row(row: Any) -> Schedule:
    """A row of name, cron, timezone, job, catch_up, no_overlap, paused, created_at,
    updated_at, cursor, last_fire_at, last_job_id, the last job's state, missed, skipped."""
    return Schedule(
        name=row[0],
        cron=row[1],
        timezone=row[2],
        job=row[3],
        catch_up=row[4],
        no_overlap=bool(row[5]),
        paused=bool(row[6]),
        created_at=from_epoch(row[7]),
        updated_at=from_epoch(row[8]),
        cursor=from_epoch(row[9]),
        last_fire_at=_moment(row[10]),
        last_job_id=row[11],
        last_job_state=None if row[12] is None else JobState(row[12]),
        missed=row[13],
        skipped=row[14],
    )


def fire_from_row(row: Any) -> Fire:
    """A row of schedule, at, kind, outcome, job_id, recorded_at, reason."""
    return Fire(row[0], from_epoch(row[1]), row[2], row[3], row[4], from_epoch(row[5]), row[6])
