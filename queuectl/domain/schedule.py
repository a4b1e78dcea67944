"""Schedules: a validated request to add one, and the records the store gives back.

A schedule's job template is a JobSpec, stored as the JSON object ``enqueue`` takes,
so every job field (today's and those added later) is validated by the same parser and
stored without a column of its own. Fields that name one particular job (``id``,
``run_at``, ``delay``, ``after``) make no sense for a job made at every tick: refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, NamedTuple

from queuectl.domain.cron import CATCH_UP, CatchUp, Cron
from queuectl.domain.errors import InvalidInput
from queuectl.domain.models import JobState
from queuectl.domain.spec import JobSpec, parse_spec

__all__ = [
    "Fire",
    "FireResult",
    "Schedule",
    "ScheduleSpec",
    "template_json",
    "template_spec",
    "validate_name",
]

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: JobSpec fields that name one job, not every job of a schedule.
_NOT_IN_TEMPLATE = ("id", "run_at", "delay", "after")

#: What a tick's firing did: made its job, recorded a skip (``no_overlap``), or found
#: the tick handled already (another runner won, or the schedule changed).
FireResult = Literal["fired", "skipped", "taken"]


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid schedule name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def template_json(spec: JobSpec) -> str:
    """The template as ``enqueue``'s JSON object: the fields that differ from defaults."""
    for name in _NOT_IN_TEMPLATE:
        if getattr(spec, name) not in (None, ()):
            raise InvalidInput(f"a schedule's job cannot have {name!r}: each tick makes a new job")
    data: dict[str, Any] = {}
    for field in fields(JobSpec):
        value = getattr(spec, field.name)
        if value == field.default:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):  # env: a read-only mapping
            value = dict(value)
        data[field.name] = value
    return json.dumps(data, sort_keys=True)


def template_spec(text: str) -> JobSpec:
    """The JobSpec of a stored template (validated again: the parser may be stricter)."""
    return parse_spec(json.loads(text))


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A validated request to add (or replace) a schedule."""

    name: str
    cron: Cron
    job: JobSpec
    catch_up: CatchUp = "latest"
    no_overlap: bool = False

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.catch_up not in CATCH_UP:
            raise InvalidInput(f"'catch_up' must be one of {', '.join(CATCH_UP)}")
        template_json(self.job)  # refuses the fields a template cannot have


class Schedule(NamedTuple):
    """A stored schedule and where its firing stands."""

    name: str
    cron: str
    timezone: str
    #: The job template, as ``enqueue``'s JSON object.
    job: str
    catch_up: CatchUp
    no_overlap: bool
    paused: bool
    created_at: datetime
    updated_at: datetime
    #: Every tick up to this time was handled: fired, skipped, or passed over.
    cursor: datetime
    #: The tick (or ``schedule run``) that made the last job, that job, and its state
    #: (None once the job was purged).
    last_fire_at: datetime | None
    last_job_id: str | None
    last_job_state: JobState | None
    #: Missed ticks passed over by the catch-up policy; ticks skipped by ``no_overlap``.
    missed: int
    skipped: int

    def template(self) -> JobSpec:
        return template_spec(self.job)

    def next_at(self, now: float) -> datetime | None:
        """Its next tick after ``now`` (None while paused, or never again)."""
        from queuectl.domain.models import from_epoch

        if self.paused:
            return None
        tick = Cron(self.cron, self.timezone).after(max(now, self.cursor.timestamp()))
        return None if tick is None else from_epoch(tick)

    def to_dict(self, next_at: datetime | None = None) -> dict[str, Any]:
        from queuectl.domain.models import iso

        return {
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "job": json.loads(self.job),
            "catch_up": self.catch_up,
            "no_overlap": self.no_overlap,
            "paused": self.paused,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "next_fire_at": iso(next_at),
            "last_fire_at": iso(self.last_fire_at),
            "last_job_id": self.last_job_id,
            "last_job_state": None if self.last_job_state is None else str(self.last_job_state),
            "missed": self.missed,
            "skipped": self.skipped,
        }


class Fire(NamedTuple):
    """One entry of a schedule's fire history (kept apart from the jobs: purging jobs
    leaves it, and it is what stops a tick from firing twice)."""

    schedule: str
    #: The tick's time; for ``schedule run``, when it was asked.
    at: datetime
    #: ``tick`` (the calendar) or ``run`` (``schedule run``).
    kind: Literal["tick", "run"]
    #: ``fired`` (its job was made) or ``skipped`` (see ``reason``).
    outcome: Literal["fired", "skipped"]
    #: The job made; for a skip of reason ``unique``, the live job that held the key.
    job_id: str | None
    recorded_at: datetime
    #: Why a tick was skipped: ``overlap`` (``no_overlap``: the last job ran on) or
    #: ``unique`` (a live job held the template's unique key). None when fired.
    reason: Literal["overlap", "unique"] | None = None

    def to_dict(self) -> dict[str, Any]:
        from queuectl.domain.models import iso

        return {
            "at": iso(self.at),
            "kind": self.kind,
            "outcome": self.outcome,
            "job_id": self.job_id,
            "reason": self.reason,
            "recorded_at": iso(self.recorded_at),
        }
