"""From what an attempt produced to what the store records."""

from __future__ import annotations

from queuectl.models import Job, Outcome
from queuectl.retry import RetryPolicy, Transition, decide
from queuectl.store.base import Finish

__all__ = ["finish_for"]


def finish_for(job: Job, outcome: Outcome, policy: RetryPolicy) -> tuple[Transition, Finish]:
    """The state the outcome leads to, and the fenced write that records it."""
    t = decide(job, outcome, policy)
    finish = Finish(
        job.id,
        job.token,
        t.state,
        t.delay,
        t.counted,
        t.exit_code,
        t.last_error,
        reason=outcome.reason,
        signal=outcome.signal,
    )
    return t, finish
