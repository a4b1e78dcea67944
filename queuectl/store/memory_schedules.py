"""The in-memory store's schedules and fire history (see ``Store.save_schedule`` and
the methods after it for what each operation promises)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from queuectl.domain.errors import DuplicateSchedule, ScheduleNotFound
from queuectl.domain.models import FINISHED_STATES
from queuectl.domain.schedule import Fire, FireResult, Schedule
from queuectl.store.base import FIRE_HISTORY, NewJob, NewSchedule
from queuectl.store.memory_jobs import JobTable
from queuectl.store.schedule_rows import fire_from_row, schedule_from_row

__all__ = ["ScheduleTable"]

_FireRow = tuple[str, str | None, float, str | None]


class ScheduleTable:
    def __init__(self, jobs: JobTable, clock: Callable[[], float]) -> None:
        self._jobs = jobs
        self._clock = clock
        self._rows: dict[str, dict[str, Any]] = {}
        #: schedule -> (at, kind) -> (outcome, job id, recorded at, reason)
        self._fires: dict[str, dict[tuple[float, str], _FireRow]] = {}

    def _row(self, name: str) -> dict[str, Any]:
        try:
            return self._rows[name]
        except KeyError:
            raise ScheduleNotFound(name) from None

    def save(self, new: NewSchedule, replace: bool) -> None:
        now = self._clock()
        row = self._rows.get(name := new.name)
        if row is not None and not replace:
            raise DuplicateSchedule(name)
        if row is None:
            self._rows[name] = row = {
                "created_at": now,
                "cursor": now,
                "paused": False,
                "last_fire_at": None,
                "last_job_id": None,
                "missed": 0,
                "skipped": 0,
            }
            self._fires[name] = {}
        row.update(new._asdict(), updated_at=now, cursor=max(row["cursor"], now))

    def get(self, name: str) -> Schedule:
        row = self._row(name)
        last = None if row["last_job_id"] is None else self._jobs.find(row["last_job_id"])
        columns = (
            *(row[c] for c in ("cron", "timezone", "job", "catch_up", "no_overlap", "paused")),
            *(row[c] for c in ("created_at", "updated_at", "cursor", "last_fire_at")),
            row["last_job_id"],
            None if last is None else last.state,
            row["missed"],
            row["skipped"],
        )
        return schedule_from_row((name, *columns))

    def names(self) -> list[str]:
        return sorted(self._rows)

    def remove(self, name: str) -> None:
        self._row(name)
        del self._rows[name], self._fires[name]

    def pause(self, name: str, paused: bool) -> None:
        row = self._row(name)
        if row["paused"] and not paused:
            row["cursor"] = max(row["cursor"], self._clock())
        row["paused"] = paused
        row["updated_at"] = self._clock()

    def fire(self, name: str, at: float, job: NewJob, missed: int) -> FireResult:
        row = self._rows.get(name)
        if row is None or row["paused"] or row["cursor"] >= at or (at, "tick") in self._fires[name]:
            return "taken"
        last = None if row["last_job_id"] is None else self._jobs.find(row["last_job_id"])
        running = last is not None and last.state not in FINISHED_STATES
        overlap = row["no_overlap"] and running
        holder = None
        if not overlap:  # first: a refused job records nothing; a held key skips the tick
            holder = self._jobs.insert([job._replace(on_conflict="ignore")]).get(job.id)
        if overlap or holder is not None:
            self._record(name, at, "tick", "skipped", holder, "overlap" if overlap else "unique")
            row["skipped"] += 1
        else:
            self._record(name, at, "tick", "fired", job.id)
            row.update(last_fire_at=at, last_job_id=job.id)
        row["cursor"] = at
        row["missed"] += missed
        return "skipped" if overlap or holder is not None else "fired"

    def run(self, name: str, job: NewJob) -> None:
        row = self._row(name)
        self._jobs.insert([job._replace(on_conflict="error")])  # a held key: refused
        now = self._clock()
        self._record(name, now, "run", "fired", job.id)
        row.update(last_fire_at=now, last_job_id=job.id)

    def pass_over(self, name: str, upto: float, missed: int) -> None:
        row = self._rows.get(name)
        if row is not None and row["cursor"] < upto:
            row["cursor"] = upto
            row["missed"] += missed

    def fires(self, name: str, limit: int) -> list[Fire]:
        self._row(name)
        newest = sorted(self._fires[name].items(), reverse=True)[:limit]
        return [fire_from_row((name, at, kind, *entry)) for (at, kind), entry in newest]

    def _record(
        self,
        name: str,
        at: float,
        kind: str,
        outcome: str,
        job_id: str | None,
        reason: str | None = None,
    ) -> None:
        fires = self._fires[name]
        fires[at, kind] = (outcome, job_id, self._clock(), reason)
        while len(fires) > FIRE_HISTORY:
            del fires[min(fires)]
