"""How things look on a terminal and in JSON; no I/O beyond writing to a stream."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TextIO

from queuectl.domain.durations import format_duration
from queuectl.domain.errors import QueuectlError
from queuectl.domain.models import (
    RUNNABLE_STATES,
    Attempt,
    Job,
    JobState,
    QueueInfo,
    RunnerInfo,
    iso,
)
from queuectl.domain.text import printable

__all__ = [
    "JOB_HEADER",
    "end_text",
    "job_row",
    "printable",
    "queue_table",
    "status_json",
    "status_text",
    "write_job_stream",
]

JOB_HEADER = f"{'ID':<32}  {'STATE':<10}  {'TRIES':>5}  {'QUEUE':<10}  {'WHEN (UTC)':<24}  COMMAND"


def _block(label: str, text: str) -> list[str]:
    """A labelled field over as many lines as ``text`` has, each made printable."""
    first, *rest = [printable(line) for line in text.splitlines()] or [""]
    return [f"{label:<11} {first}", *(f"{'':<11} {line}" for line in rest)]


def _short(text: str | None, width: int) -> str:
    line = printable((text or "").replace("\n", " ").strip())
    return line if len(line) <= width else line[: width - 1] + "…"


def when(job: Job, now: float) -> str:
    """When a waiting job will run, else when the job last changed."""
    if job.state in RUNNABLE_STATES:
        if job.blocked:
            return f"after {job.blocked} job(s)"
        wait = job.run_at.timestamp() - now
        if wait > 0.5:
            return f"in {format_duration(wait)}"
    return str(iso(job.updated_at))


def job_row(job: Job, *, error: bool = False, now: float | None = None) -> str:
    tries = f"{job.attempts}/{1 + job.max_retries}"
    detail = _short(job.last_error, 60) if error else _short(job.command, 80)
    moment = when(job, time.time() if now is None else now)
    return (
        f"{job.id:<32}  {job.state.value:<10}  {tries:>5}  {_short(job.queue, 10):<10}  "
        f"{moment:<24}  {detail}"
    )


async def write_job_stream(
    jobs: AsyncIterator[Job], *, as_json: bool, error: bool = False, out: TextIO | None = None
) -> int:
    """Write jobs as they arrive (a JSON array or a table); returns how many.

    Each row is rendered whole before any of it is written. A row that cannot be
    rendered gets one error line on stderr instead, the others are still written, and
    QueuectlError follows at the end; a JSON array is closed whatever happens, so what
    was printed always parses.
    """
    out = out or sys.stdout
    count = unshown = 0
    if as_json:
        out.write("[")
    try:
        async for job in jobs:
            try:
                text = json.dumps(job.to_dict(), ensure_ascii=False) if as_json else None
                row = text if text is not None else job_row(job, error=error)
            except (ValueError, OverflowError) as exc:
                unshown += 1
                sys.stderr.write(
                    f"queuectl: error: job {printable(job.id)} cannot be shown: {exc}\n"
                )
                continue
            if as_json:
                out.write(",\n  " if count else "\n  ")
            elif not count:
                header = JOB_HEADER.replace("COMMAND", "LAST ERROR") if error else JOB_HEADER
                out.write(header + "\n")
            out.write(row if as_json else row + "\n")
            count += 1
    finally:
        if as_json:
            out.write("\n]\n" if count else "]\n")
    if unshown:
        raise QueuectlError(f"{unshown} job(s) could not be shown")
    return count


def queue_table(overview: Sequence[QueueInfo]) -> str:
    """``queue list``: one row per queue (its counts, pause, cap, oldest runnable age)."""
    heads = ["QUEUE", *(s.value.upper() for s in JobState), "PAUSED", "CAP", "OLDEST"]
    rows = [
        [
            printable(info.name),
            *(str(info.counts.get(s, 0)) for s in JobState),
            "yes" if info.paused else "no",
            "-" if info.cap is None else str(info.cap),
            "-" if info.oldest_runnable_age is None else format_duration(info.oldest_runnable_age),
        ]
        for info in overview
    ]
    if not rows:
        return "no queues"
    widths = [max(len(row[i]) for row in [heads, *rows]) for i in range(len(heads))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [heads, *rows]
    )


def status_text(
    counts: Mapping[JobState, int],
    runners: list[RunnerInfo],
    host: str,
    queues: Mapping[str, Mapping[JobState, int]] | None = None,
    throughput: float | None = None,
    paused: Sequence[str] = (),
) -> str:
    lines = ["Jobs summary:"]
    lines += [f"  {state.value}: {counts.get(state, 0)}" for state in JobState]
    if queues and len(queues) > 1:
        lines.append("Queues:")
        for name, per_state in queues.items():
            parts = ", ".join(f"{s.value} {per_state.get(s, 0)}" for s in JobState)
            lines.append(f"  {name}: {parts}")
    if paused:
        lines.append(f"Paused queues: {', '.join(printable(name) for name in paused)}")
    lines.append(f"Worker manager running: {bool(runners)}")
    for runner in runners:
        where = "" if runner.host == host else f" (host {printable(runner.host)})"
        lines.append(f"  manager pid: {runner.pid}{where}")
    if throughput is not None:
        lines.append(f"Throughput: {throughput:.2f} jobs/s over the last minute")
    return "\n".join(lines)


def status_json(
    counts: Mapping[JobState, int],
    runners: list[RunnerInfo],
    queues: Mapping[str, Mapping[JobState, int]] | None = None,
    paused: Sequence[str] = (),
) -> str:
    data = {
        "jobs": {state.value: counts.get(state, 0) for state in JobState},
        "queues": {
            name: {s.value: per_state.get(s, 0) for s in JobState}
            for name, per_state in (queues or {}).items()
        },
        "workers": [runner.to_dict() for runner in runners],
        "paused": list(paused),
    }
    return json.dumps(data, indent=2)


def end_text(reason: str, exit_code: int | None, signal: int | None) -> str:
    """How an attempt ended, the same in ``show`` and in a runner's job lines:
    ``exit N``, ``signal N``, or the reason with the signal that ended it
    (``timeout (signal 15)``)."""
    if reason in ("exit", "signal"):  # "exit" with a signal: recorded by older versions
        return f"exit {exit_code}" if exit_code is not None else f"signal {signal}"
    ended = "" if signal is None else f" (signal {signal})"
    code = "" if exit_code is None else f" (exit {exit_code})"
    return f"{reason}{ended}{code}"


def _attempt_result(attempt: Attempt) -> str:
    if attempt.ended_at is None or attempt.reason is None:
        return "running"
    return end_text(attempt.reason, attempt.exit_code, attempt.signal)


def _codes(codes: tuple[int, ...]) -> str:
    return (
        f"exit {', '.join(map(str, codes))}; timeouts, signals, crashes"
        if codes
        else ("timeouts, signals, crashes (no exit code)")
    )


def job_details(job: Job, history: list[Attempt], now: float | None = None) -> str:
    """The human form of ``show``: the record, then one line per attempt."""
    moment = time.time() if now is None else now
    state = job.state.value
    waiting = when(job, moment)
    if job.state in RUNNABLE_STATES and not waiting.startswith("20"):
        state += f" (runs {waiting})"
    fields = [
        ("state", state),
        ("queue", f"{printable(job.queue)} (priority {job.priority})"),
        ("attempts", f"{job.attempts} of {1 + job.max_retries}"),
        ("timeout", "none" if job.timeout is None else format_duration(job.timeout)),
        ("after", printable(", ".join(job.after)) or "-"),
        ("created", iso(job.created_at)),
        ("run at", iso(job.run_at)),
        ("updated", iso(job.updated_at)),
        ("exit code", "-" if job.exit_code is None else str(job.exit_code)),
        ("cwd", "runner's" if job.cwd is None else printable(job.cwd)),
        ("retry on", "any failure" if job.retry_on is None else _codes(job.retry_on)),
        ("unique key", "-" if job.unique_key is None else printable(job.unique_key)),
    ]
    lines = [f"{'id:':<11} {printable(job.id)}", *_block("command:", job.command)]
    lines += [f"{name + ':':<11} {value}" for name, value in fields]
    if job.env:
        lines.append("env:")
        lines += [f"  {printable(k)}={printable(v)}" for k, v in sorted(job.env.items())]
    if job.last_error:
        lines += _block("last error:", job.last_error)
    lines.append("attempts:" if history else "attempts:  none yet")
    for a in history:
        runner = f"{printable(a.host or '?')}/{a.pid or '?'}"
        took = "" if a.duration is None else f"{a.duration:.2f}s"
        lines.append(
            f"  #{a.number:<3} {iso(a.started_at)}  {took:>9}  {_attempt_result(a):<16} {runner}"
        )
    return "\n".join(lines)
