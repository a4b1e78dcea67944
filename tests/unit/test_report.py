"""The worker's job lines: batched into one write, never lost at the end of a run."""

from __future__ import annotations

import asyncio
import io

from queuectl.cli.report import FLUSH_DELAY, Reporter
from queuectl.domain.models import SUCCESS, JobState
from queuectl.runner.events import JobEvent
from tests.helpers import eventually, job_record


class CountingStream(io.StringIO):
    """A stderr stand-in that counts the writes reaching it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def event(job_id: str) -> JobEvent:
    job = job_record(job_id, state=JobState.COMPLETED, attempts=1)
    return JobEvent(job, JobState.COMPLETED, SUCCESS, 0.01)


async def test_lines_of_jobs_ending_together_go_out_in_one_write() -> None:
    out = CountingStream()
    reporter = Reporter(quiet=False, as_json=False, progress=False, out=out)
    for n in range(5):
        reporter.on_event(event(f"job{n}"))
    assert out.getvalue() == ""  # held for at most FLUSH_DELAY
    await eventually(lambda: out.getvalue().count("\n") == 5, within=FLUSH_DELAY * 100)
    assert out.writes == 1
    assert [line.split()[1] for line in out.getvalue().splitlines()] == [
        f"job{n}" for n in range(5)
    ]


async def test_finish_writes_what_is_still_held() -> None:
    out = CountingStream()
    reporter = Reporter(quiet=False, as_json=False, progress=False, out=out)
    reporter.on_event(event("last"))
    reporter.finish()
    assert "last  completed" in out.getvalue()
    await asyncio.sleep(FLUSH_DELAY * 2)  # the cancelled timer writes nothing more
    assert out.getvalue().count("\n") == 1


def test_outside_an_event_loop_lines_are_written_at_once() -> None:
    out = CountingStream()
    reporter = Reporter(quiet=False, as_json=False, progress=False, out=out)
    reporter.on_event(event("sync"))
    assert "sync  completed" in out.getvalue()


async def test_quiet_counts_jobs_but_writes_nothing() -> None:
    out = CountingStream()
    reporter = Reporter(quiet=True, as_json=False, progress=False, out=out)
    reporter.on_event(event("hushed"))
    reporter.finish()
    assert (reporter.done, out.getvalue()) == (1, "")
