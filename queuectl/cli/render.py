"""How things look on a terminal and in JSON; no I/O beyond writing to a stream."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any, TextIO

from queuectl.models import Job, JobState, RunnerInfo, iso

__all__ = [
    "JOB_HEADER",
    "format_value",
    "job_row",
    "status_text",
    "write_job_stream",
]

JOB_HEADER = f"{'ID':<32}  {'STATE':<10}  {'TRIES':>5}  {'UPDATED (UTC)':<24}  COMMAND"


def _short(text: str | None, width: int) -> str:
    line = (text or "").replace("\n", " ").strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def job_row(job: Job, *, error: bool = False) -> str:
    tries = f"{job.attempts}/{1 + job.max_retries}"
    detail = _short(job.last_error, 60) if error else _short(job.command, 80)
    return f"{job.id:<32}  {job.state.value:<10}  {tries:>5}  {iso(job.updated_at)!s:<24}  {detail}"


async def write_job_stream(
    jobs: AsyncIterator[Job], *, as_json: bool, error: bool = False, out: TextIO | None = None
) -> int:
    """Write jobs as they arrive (a JSON array or a table); returns how many."""
    out = out or sys.stdout
    count = 0
    if as_json:
        out.write("[")
        async for job in jobs:
            out.write(",\n  " if count else "\n  ")
            out.write(json.dumps(job.to_dict(), ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
        return count
    async for job in jobs:
        if not count:
            header = JOB_HEADER.replace("COMMAND", "LAST ERROR") if error else JOB_HEADER
            out.write(header + "\n")
        out.write(job_row(job, error=error) + "\n")
        count += 1
    return count


def status_text(counts: Mapping[JobState, int], runners: list[RunnerInfo], host: str) -> str:
    lines = ["Jobs summary:"]
    lines += [f"  {state.value}: {counts.get(state, 0)}" for state in JobState]
    lines.append(f"Worker manager running: {bool(runners)}")
    for runner in runners:
        where = "" if runner.host == host else f" (host {runner.host})"
        lines.append(f"  manager pid: {runner.pid}{where}")
    return "\n".join(lines)


def status_json(counts: Mapping[JobState, int], runners: list[RunnerInfo]) -> str:
    data = {
        "jobs": {state.value: counts.get(state, 0) for state in JobState},
        "workers": [runner.to_dict() for runner in runners],
    }
    return json.dumps(data, indent=2)


def format_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
