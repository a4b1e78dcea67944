"""What ``worker start`` prints while it runs: a line per finished job, a progress line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import TextIO

from queuectl import JobEvent
from queuectl.cli.render import end_text, printable
from queuectl.domain.durations import format_duration
from queuectl.domain.models import JobState, from_epoch, iso

__all__ = ["JsonLogFormatter", "Reporter", "TextLogFormatter"]

_CLEAR = "\r\x1b[K"

#: Job lines wait at most this long (seconds) to be written together: one write a batch,
#: not a write and a flush for each of thousands of jobs a second.
FLUSH_DELAY = 0.05


class JsonLogFormatter(logging.Formatter):
    """Log records as JSON lines, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": iso(from_epoch(record.created)),
                "level": record.levelname.lower(),
                "message": record.getMessage(),
            }
        )


class TextLogFormatter(logging.Formatter):
    """Log records as text lines, with control characters escaped: a message may quote
    a job's text or an error from its command."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s queuectl: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))


class Reporter:
    """Prints finished jobs on stderr (text or JSON) and, on a terminal, a progress line."""

    def __init__(self, *, quiet: bool, as_json: bool, progress: bool, out: TextIO | None = None):
        self.quiet = quiet
        self.as_json = as_json
        self.progress = progress and not as_json
        self.out = out or sys.stderr
        self.done = 0
        self.remaining: int | None = None
        self._started = time.monotonic()
        self._line = ""
        self._pending: list[str] = []
        self._flush_at: asyncio.TimerHandle | None = None

    def on_event(self, event: JobEvent) -> None:
        self.done += 1
        if self.remaining:
            self.remaining -= 1
        if self.quiet:
            return
        self._pending.append(self._job_line(event) + "\n")
        if self._flush_at is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called outside a loop: nothing will flush later
                self.flush()
                return
            self._flush_at = loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Write the job lines waiting to be written."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._write(text)

    def _job_line(self, event: JobEvent) -> str:
        outcome = event.outcome
        if self.as_json:
            return json.dumps(
                {
                    "time": iso(from_epoch(time.time())),
                    "job": event.job.id,
                    "attempt": event.job.attempts,
                    "outcome": event.state.value,
                    "reason": outcome.reason,
                    "duration": round(event.duration, 3),
                    "exit_code": outcome.exit_code,
                    "signal": outcome.signal,
                }
            )
        note = "" if event.state == JobState.COMPLETED else f" ({outcome.reason})"
        ended = end_text(outcome.reason, outcome.exit_code, outcome.signal)
        return (
            f"{iso(from_epoch(time.time()))}  {printable(event.job.id)}  "
            f"{event.state.value}{note}  {event.duration:.2f}s  {ended}"
        )

    def _write(self, text: str) -> None:
        if self._line:
            text = _CLEAR + text + self._line
        self.out.write(text)
        self.out.flush()

    def draw_progress(self) -> None:
        if not self.progress or self.remaining is None:
            return
        self.flush()
        self._line = self._progress_text(self.remaining)
        self.out.write(_CLEAR + self._line)
        self.out.flush()

    def _progress_text(self, remaining: int) -> str:
        total = self.done + remaining
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = self.done / elapsed
        eta = format_duration(remaining / rate) if rate > 0 and remaining else "-"
        return f"{self.done}/{total} done  {rate:.1f} jobs/s  ETA {eta}"

    def finish(self) -> None:
        """Write what is held; a progress line is redrawn with the final counts and kept
        (the last refresh may predate the last jobs: it must not be the last word)."""
        self.flush()
        if self.progress and self.remaining is not None:
            self.out.write(_CLEAR + self._progress_text(self.remaining) + "\n")
            self.out.flush()
        elif self._line:
            self.out.write(_CLEAR)
            self.out.flush()
        self._line = ""
