"""What a runner reports: counts of what it recorded, and an event per recorded job."""

from __future__ import annotations

from dataclasses import dataclass

from queuectl.domain.models import Job, JobState, Outcome

__all__ = ["JobEvent", "RunStats"]


@dataclass(slots=True)
class RunStats:
    completed: int = 0
    failed: int = 0
    dead: int = 0
    given_back: int = 0
    cancelled: int = 0
    recovered: int = 0

    def count(self, state: JobState) -> None:
        if state == JobState.COMPLETED:
            self.completed += 1
        elif state == JobState.FAILED:
            self.failed += 1
        elif state == JobState.DEAD:
            self.dead += 1
        elif state == JobState.CANCELLED:
            self.cancelled += 1
        else:
            self.given_back += 1


@dataclass(frozen=True, slots=True)
class JobEvent:
    """An attempt that ended and was recorded (``Runner(on_event=...)``).

    ``job`` is the job as that record left it: its new state, attempts, exit code and
    error (its times are the store's, read them with ``Queue.get``).
    """

    job: Job
    state: JobState
    outcome: Outcome
    duration: float
