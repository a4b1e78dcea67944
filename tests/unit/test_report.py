"""The worker's job lines: batched into one write, never lost at the end of a run."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from queuectl.cli.report import FLUSH_DELAY, Reporter, TextLogFormatter
from queuectl.domain.models import SUCCESS, JobState, Outcome
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


def _outcome_event(job_id: str, state: JobState, outcome: Outcome) -> JobEvent:
    job = job_record(job_id, state=state, attempts=1)
    return JobEvent(job, state, outcome, 0.5)


KILLED = Outcome(exit_code=None, reason="signal", signal=9, error="killed by SIGKILL")
TIMED_OUT = Outcome(exit_code=None, reason="timeout", signal=15, error="timed out after 1s")


def test_a_killed_job_is_reported_as_its_signal_in_text_and_json() -> None:
    for as_json in (False, True):
        out = io.StringIO()
        reporter = Reporter(quiet=False, as_json=as_json, progress=False, out=out)
        reporter.on_event(_outcome_event("k", JobState.DEAD, KILLED))
        reporter.on_event(_outcome_event("t", JobState.DEAD, TIMED_OUT))
        killed, timed_out = out.getvalue().splitlines()
        if as_json:
            assert [
                {k: json.loads(line)[k] for k in ("reason", "signal", "exit_code")}
                for line in (killed, timed_out)
            ] == [
                {"reason": "signal", "signal": 9, "exit_code": None},
                {"reason": "timeout", "signal": 15, "exit_code": None},
            ]
        else:
            assert killed.split()[2:] == ["dead", "(signal)", "0.50s", "signal", "9"]
            assert timed_out.split()[2:] == [
                "dead", "(timeout)", "0.50s", "timeout", "(signal", "15)"
            ]  # fmt: skip


def test_runner_log_lines_escape_control_characters() -> None:
    record = logging.LogRecord("queuectl", logging.WARNING, "", 0, "x %s", ("\x1b[2J",), None)
    line = TextLogFormatter().format(record)
    assert "\x1b" not in line
    assert line.endswith("queuectl: x \\x1b[2J")


def test_the_last_progress_line_shows_the_final_count_and_stays() -> None:
    out = io.StringIO()
    reporter = Reporter(quiet=True, as_json=False, progress=True, out=out)
    reporter.remaining = 20
    for n in range(16):
        reporter.on_event(event(f"j{n}"))
    reporter.draw_progress()  # the last refresh: 16/20
    for n in range(16, 20):
        reporter.on_event(event(f"j{n}"))
    reporter.remaining = 0  # what the runner counts once it has stopped
    reporter.finish()
    drawn = out.getvalue().split("\r\x1b[K")
    assert drawn[-2].startswith("16/20 done")
    assert drawn[-1].startswith("20/20 done")
    assert drawn[-1].endswith("\n")
