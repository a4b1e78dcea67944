"""Schedules through the API: validate a request, store it, read it back.

``Queue`` delegates here (``Queue.schedule`` and the methods after it), so that the
queue's module stays about jobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queuectl.domain.cron import CATCH_UP, Cron
from queuectl.domain.errors import InvalidInput
from queuectl.domain.schedule import ScheduleSpec, template_json
from queuectl.domain.spec import JobSpec, parse_spec
from queuectl.store.base import NewSchedule

__all__ = ["new_schedule", "schedule_spec"]


def schedule_spec(
    name: str,
    cron: str,
    job: JobSpec | Mapping[str, Any] | str,
    *,
    timezone: str = "UTC",
    catch_up: str = "latest",
    no_overlap: bool = False,
    fields: Mapping[str, Any] | None = None,
) -> ScheduleSpec:
    """Validate a schedule: the expression and zone by the cron parser, the job template
    by the same parser as ``enqueue`` (a command string with ``fields``, a JobSpec, or
    enqueue's JSON object as a mapping)."""
    if isinstance(job, str):
        spec = parse_spec({"command": job, **(fields or {})})
    elif fields:
        raise InvalidInput("pass fields either as keywords or inside the spec, not both")
    else:
        spec = job if isinstance(job, JobSpec) else parse_spec(job)
    if catch_up not in CATCH_UP:
        raise InvalidInput(f"'catch_up' must be one of {', '.join(CATCH_UP)}, not {catch_up!r}")
    return ScheduleSpec(
        name=name,
        cron=Cron(cron, timezone),
        job=spec,
        catch_up=catch_up,  # checked above
        no_overlap=no_overlap,
    )


def new_schedule(spec: ScheduleSpec) -> NewSchedule:
    return NewSchedule(
        name=spec.name,
        cron=spec.cron.expression,
        timezone=spec.cron.timezone,
        job=template_json(spec.job),
        catch_up=spec.catch_up,
        no_overlap=spec.no_overlap,
    )
