"""From what an attempt produced to what the store records."""

from __future__ import annotations

from queuectl.domain.models import Job, Outcome
from queuectl.domain.retry import RetryPolicy, Transition, decide
from queuectl.store.base import Finish

__all__ = ["INTERRUPTIONS", "finish_for"]

#: Why the runner itself interrupted a command, and what the attempt then records
#: (``lost`` records nothing: the job is another runner's now).
INTERRUPTIONS: dict[str, Outcome] = {
    "shutdown": Outcome(
        exit_code=None,
        reason="shutdown",
        error="given back by a hard stop of its runner (attempt not counted)",
    ),
    "cancel": Outcome(exit_code=None, reason="cancel", error="cancelled by request"),
}


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
