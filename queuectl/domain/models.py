"""The job model: what a job is, what a runner is, what an attempt produced. No I/O.

Records are NamedTuples: immutable, cheap to build from a database row, and cheap to
define (dataclasses generate code at import, which every CLI start would pay for).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

__all__ = [
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "LIVE_STATES",
    "NO_ENV",
    "RUNNABLE_STATES",
    "Attempt",
    "AttemptOutput",
    "EndReason",
    "Job",
    "JobOutput",
    "JobState",
    "Outcome",
    "QueueInfo",
    "RunnerInfo",
    "WakeKind",
    "from_epoch",
    "iso",
]


class JobState(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


#: States a runner may claim from (once ``run_at`` has passed).
RUNNABLE_STATES = frozenset({JobState.PENDING, JobState.FAILED})
#: States that will not change again unless someone acts (``dlq retry``).
FINISHED_STATES = frozenset({JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED})
ACTIVE_STATES = frozenset(JobState) - FINISHED_STATES
#: States in which a job holds its ``unique_key`` (the stores' partial unique indexes
#: list the same ones): waiting, running, or failed with a retry to come.
LIVE_STATES = ACTIVE_STATES
#: The ``env`` of a job that sets no variables (shared, read-only).
NO_ENV: Mapping[str, str] = MappingProxyType({})

#: What a wake-up between processes means. ``jobs``: new work may be runnable;
#: ``control``: a runner should re-read its flags (stop and cancel requests);
#: ``schedules``: a schedule was added, changed or removed (the next tick may move).
WakeKind = Literal["jobs", "control", "schedules"]

#: Why an attempt ended. ``exit``: the command exited by itself (any code; the only
#: reason with an exit code); ``signal``: a signal killed it (the attempt's ``signal``);
#: ``timeout``: it ran past its timeout (``signal``: the one that ended it); ``crash``:
#: its runner died or lost the lease; ``shutdown``: a hard stop gave the job back;
#: ``cancel``: someone cancelled the job; ``error``: it could not start or a custom
#: ``execute`` raised.
EndReason = Literal["exit", "signal", "timeout", "crash", "shutdown", "cancel", "error"]


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a ``Z``, whatever the local time zone."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


class Job(NamedTuple):
    """A job as the store holds it. Times are aware datetimes in UTC."""

    id: str
    command: str
    state: JobState
    attempts: int
    max_retries: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    priority: int = 0
    queue: str = "default"
    timeout: float | None = None
    exit_code: int | None = None
    last_error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: The runner holding the job while it is processing, and until when.
    runner_id: str | None = None
    lease_until: datetime | None = None
    #: Bumped by every claim; a finish must quote it (fencing against stale runners).
    token: int = 0
    #: Ids of the jobs this one runs after, and how many of them are not completed yet.
    after: tuple[str, ...] = ()
    blocked: int = 0
    #: Per-job backoff overrides; None means the runner's settings apply.
    backoff_base: float | None = None
    backoff_max: float | None = None
    backoff_jitter: str | None = None
    #: Someone asked to cancel the job while it was running.
    cancel_requested: bool = False
    #: The absolute directory the command runs in; None runs it in the runner's own.
    cwd: str | None = None
    #: Variables laid over the runner's environment (queuectl's own are set after).
    env: Mapping[str, str] = NO_ENV
    #: The exit codes worth another attempt; None retries every failure. A non-zero
    #: exit not listed sends the job to the DLQ at once.
    retry_on: tuple[int, ...] | None = None
    #: At most one job holding a key is live (pending, processing or failed).
    unique_key: str | None = None
    #: When its last dependency completed (None: it has none, or none completed yet).
    #: It became runnable at the later of this and ``run_at``.
    ready_at: datetime | None = None

    @property
    def attempts_left(self) -> int:
        return max(0, 1 + self.max_retries - self.attempts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by ``--json`` output."""
        return {
            "id": self.id,
            "command": self.command,
            "state": self.state.value,
            "attempts": self.attempts,
            "max_retries": self.max_retries,
            "priority": self.priority,
            "queue": self.queue,
            "timeout": self.timeout,
            "run_at": iso(self.run_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "exit_code": self.exit_code,
            "last_error": self.last_error,
            "runner_id": self.runner_id,
            "after": list(self.after),
            "blocked": self.blocked,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
            "backoff_jitter": self.backoff_jitter,
            "cwd": self.cwd,
            "env": dict(self.env),
            "retry_on": None if self.retry_on is None else list(self.retry_on),
            "unique_key": self.unique_key,
        }


class Attempt(NamedTuple):
    """One run of a job's command, as the history records it."""

    number: int
    token: int
    started_at: datetime
    runner_id: str | None = None
    host: str | None = None
    pid: int | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    signal: int | None = None
    #: Why it ended (see EndReason); None while it runs.
    reason: str | None = None
    #: Why some of its output could not be stored (``disk full``), if that happened.
    output_lost: str | None = None

    @property
    def duration(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "runner_id": self.runner_id,
            "host": self.host,
            "pid": self.pid,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration": self.duration,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "output_lost": self.output_lost,
        }


class JobOutput(NamedTuple):
    """What one stream of one attempt printed, bounded: its head, then its tail.

    ``total`` counts every byte the command wrote; when it exceeds the two parts,
    ``total - len(head) - len(tail)`` bytes in the middle were not kept. ``lost`` says
    why when the store could not take some of them (``disk full``), not the limit.
    """

    head: bytes = b""
    tail: bytes = b""
    total: int = 0
    lost: str | None = None

    @property
    def cut(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def content(self) -> bytes:
        """The kept bytes, with a marker line where the middle was cut."""
        return self.head + self.mark() + self.tail

    def mark(self) -> bytes:
        """The marker line that stands for the bytes not kept (empty when none)."""
        if not self.cut:
            return b""
        why = f": {self.lost}" if self.lost else ""
        return f"\n[… {self.cut} bytes not kept{why} …]\n".encode()

    def text(self) -> str:
        """``content()`` as text; bytes that are not UTF-8 become U+FFFD."""
        return self.content().decode("utf-8", errors="replace")


class AttemptOutput(dict[int, JobOutput]):
    """What one attempt printed, by stream (1 stdout, 2 stderr), with each as text."""

    @property
    def stdout(self) -> str:
        """Its stdout as text, with the mark where bytes were not kept ("" if none)."""
        return self[1].text() if 1 in self else ""

    @property
    def stderr(self) -> str:
        """Its stderr as text, like ``stdout``."""
        return self[2].text() if 2 in self else ""


class Outcome(NamedTuple):
    """What one attempt produced; ``execute`` functions return one (or None for success)."""

    exit_code: int | None = 0
    reason: EndReason = "exit"
    #: The signal that ended the command, when one did.
    signal: int | None = None
    #: Human explanation plus the tail of stderr; kept as the job's ``last_error``.
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.reason == "exit" and self.exit_code == 0


SUCCESS = Outcome()


class QueueInfo(NamedTuple):
    """One named queue as ``Queue.queue_overview`` sees it."""

    name: str
    #: Jobs per state, every state present (zeros included).
    counts: dict[JobState, int]
    paused: bool
    #: The most of its jobs in ``processing`` at once, across runners (None: no cap).
    cap: int | None
    #: Seconds since its oldest runnable job became due (None: none is due).
    oldest_runnable_age: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "counts": {state.value: n for state, n in self.counts.items()},
            "paused": self.paused,
            "cap": self.cap,
            "oldest_runnable_age": self.oldest_runnable_age,
        }


class RunnerInfo(NamedTuple):
    """A live (or recently live) runner process, as the registry records it."""

    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    concurrency: int
    #: Identifies the process beyond its pid (start time in clock ticks on Linux).
    pid_start: int | None = None
    queues: tuple[str, ...] = ()
    #: Where the runner listens for wake-ups (an address only the store interprets).
    wake: str | None = None
    #: 0: keep going; 1: drain and stop; 2: stop hard.
    stop_requested: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pid": self.pid,
            "host": self.host,
            "started_at": iso(self.started_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "concurrency": self.concurrency,
            "queues": list(self.queues),
        }
