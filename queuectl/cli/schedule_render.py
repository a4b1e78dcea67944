"""How schedules look on a terminal (their JSON form is ``Schedule.to_dict``)."""

from __future__ import annotations

import json

from queuectl.cli.render import printable
from queuectl.domain.models import iso
from queuectl.domain.schedule import Fire, Schedule

__all__ = ["SCHEDULE_HEADER", "schedule_details", "schedule_rows"]

SCHEDULE_HEADER = (
    f"{'NAME':<20}  {'CRON':<18}  {'ZONE':<16}  {'NEXT (UTC)':<24}  {'LAST (UTC)':<24}  LAST JOB"
)


def _last_job(schedule: Schedule) -> str:
    if schedule.last_job_id is None:
        return "-"
    state = "purged" if schedule.last_job_state is None else schedule.last_job_state.value
    return f"{schedule.last_job_id} ({state})"


def _next(schedule: Schedule, now: float) -> str:
    if schedule.paused:
        return "paused"
    return iso(schedule.next_at(now)) or "never"


def schedule_rows(schedules: list[Schedule], now: float) -> list[str]:
    lines = [SCHEDULE_HEADER]
    for s in schedules:
        last = iso(s.last_fire_at) or "-"
        lines.append(
            f"{s.name:<20}  {s.cron:<18}  {s.timezone:<16}  {_next(s, now):<24}  {last:<24}  "
            f"{_last_job(s)}"
        )
    return lines


def schedule_details(schedule: Schedule, history: list[Fire], now: float) -> str:
    """The human form of ``schedule show``: the definition, the counts, the history."""
    job = json.loads(schedule.job)
    options = {k: v for k, v in job.items() if k != "command"}
    fields = [
        ("cron", f"{schedule.cron} ({schedule.timezone})"),
        ("command", printable(job["command"])),
        ("job", printable(json.dumps(options, ensure_ascii=False)) if options else "-"),
        ("catch up", schedule.catch_up),
        ("overlap", "skipped (--no-overlap)" if schedule.no_overlap else "allowed"),
        ("next", _next(schedule, now)),
        ("last fire", iso(schedule.last_fire_at) or "-"),
        ("last job", _last_job(schedule)),
        ("missed", f"{schedule.missed} tick(s) passed over by the catch-up policy"),
        ("skipped", f"{schedule.skipped} tick(s) skipped (last job unfinished, or key held)"),
        ("created", iso(schedule.created_at)),
        ("updated", iso(schedule.updated_at)),
    ]
    lines = [f"{'name:':<11} {schedule.name}"]
    lines += [f"{name + ':':<11} {value}" for name, value in fields]
    lines.append("history:" if history else "history:   none yet")
    for fire in history:
        what = "run now" if fire.kind == "run" else "tick"
        if fire.outcome == "skipped" and fire.reason == "unique":
            result = f"skipped: its unique key was held by job {fire.job_id}"
        elif fire.outcome == "skipped":
            result = "skipped: the last job was unfinished"
        else:
            result = f"job {fire.job_id}"
        lines.append(f"  {iso(fire.at)}  {what:<8} {result}")
    return "\n".join(lines)
